"""Pages of a person's inbox, on the hub and on their spoke alike: the list, opening a notice (which marks it read and
leads where it points), marking everything read, and the unread badge the page header refreshes."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.types import ControllerRouterHandler

from common.api.deps import OffsetQ
from common.notify import inbox
from common.notify.badge import header_unread
from common.notify.service import unread_count
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render

INBOX_PAGE = 20


@get("/notifications", include_in_schema=False, sync_to_thread=True, name="notifications:list")
def notifications_page(request: Request, unread: FromQuery[str | None] = None, offset: OffsetQ = 0,
                       done: FromQuery[str | None] = None) -> Response[str]:
    p = require_principal(request)
    only_unread = unread in ("1", "true")
    with request.app.state.db.reads() as session:
        rows = session.scalars(inbox.inbox(p, unread=only_unread).limit(INBOX_PAGE + 1).offset(offset)).all()
        count = unread_count(session, p.user_id) if p.user_id is not None else 0
    context = {"items": rows[:INBOX_PAGE], "has_more": len(rows) > INBOX_PAGE, "offset": offset,
               "page_size": INBOX_PAGE, "only_unread": only_unread, "unread_total": count,
               "all_read": done == "all-read"}
    return render(request, "notify/list.html", context)


@post("/notifications/{notification_id:uuid}/open", include_in_schema=False)
async def open_notification(request: Request, notification_id: FromPath[UUID]) -> Response[Any]:
    """Mark the notice read and go where it leads; someone else's is a 404, as if it did not exist."""
    p = require_principal(request)

    def work() -> str:
        with request.app.state.db.transaction(actor=p) as session:
            return inbox.safe_link(inbox.mark_read(session, p, notification_id).link)

    return redirect(request, await anyio.to_thread.run_sync(work))


@post("/notifications/read-all", include_in_schema=False)
async def read_all(request: Request) -> Response[Any]:
    p = require_principal(request)

    def work() -> int:
        with request.app.state.db.transaction(actor=p) as session:
            return inbox.mark_all_read(session, p)

    await anyio.to_thread.run_sync(work)
    return redirect(request, "/notifications?done=all-read")


@get("/notifications/count", include_in_schema=False, sync_to_thread=True)
def notifications_badge(request: Request) -> Response[str]:
    """Only the header's inbox link with its badge, for htmx to swap in once a minute."""
    require_principal(request)
    # htmx names the page the badge is on: its link stays marked as the current page on the inbox itself.
    here = urlsplit(request.headers.get("hx-current-url", "")).path
    return render(request, "notify/_nav.html", {"unread": header_unread(request),
                                                "notify_current": here.startswith("/notifications")},
                  headers={"Cache-Control": "no-store"})


NOTIFICATION_PAGE_HANDLERS: list[ControllerRouterHandler] = [
    notifications_page, open_notification, read_all, notifications_badge,
]
