"""The JSON API of a person's own inbox: their notices and marking one read."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery

from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.notify import inbox


class NotificationController(Controller):
    path = "/api/v1/notifications"
    tags = ["notifications"]

    @get("/", sync_to_thread=True, summary="The caller's own notices, newest first")
    def list_notifications(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                           unread: FromQuery[bool | None] = None) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return page(session, inbox.inbox(principal, unread=bool(unread)), limit, offset, inbox.notification_out)

    @post("/{notification_id:uuid}/read", sync_to_thread=True, status_code=200,
          summary="Mark one of the caller's own notices read")
    def mark_read(self, request: Request, principal: Caller, notification_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return inbox.notification_out(inbox.mark_read(session, principal, notification_id))
