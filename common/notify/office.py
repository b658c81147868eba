"""The office's view of the outbox, mounted by the hub alone: /admin/deliveries (with "retry now") and
GET /api/v1/deliveries. A robot's address is never shown whole: only its host and the key's last four characters."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common import policy
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.cases.pages import _form
from common.errors import InvalidField
from common.i18n import N_
from common.notify import sender
from common.notify.models import Delivery
from common.notify.webhooks import mask_webhook
from common.orm import utcnow
from common.service import Problems, audit_write
from common.web.auth import require_office_principal
from common.web.errors import field_errors, problem
from common.web.htmx import redirect
from common.web.templating import render

STATUSES = {"pending": N_("Pending"), "sent": N_("Sent"), "failed": N_("Failed, will retry"),
            "dead": N_("Failed, given up")}
CHANNELS = {"wecom": N_("WeCom group robot"), "email": N_("Mail")}
PER_PAGE = 50


def shown_target(d: Delivery) -> str:
    return mask_webhook(d.target) if d.channel == "wecom" else d.target


def delivery_out(d: Delivery) -> dict[str, Any]:
    def stamp(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {"id": str(d.id), "event_key": d.event_key, "channel": d.channel, "target": shown_target(d),
            "user_id": str(d.user_id) if d.user_id else None, "kind": d.kind, "subject": d.subject,
            "status": d.status, "attempts": d.attempts, "last_error": d.last_error,
            "next_attempt_at": stamp(d.next_attempt_at), "created_at": stamp(d.created_at), "sent_at": stamp(d.sent_at)}


def parse_filters(status: str | None, channel: str | None) -> dict[str, str]:
    problems = Problems()
    status, channel = (status or "").strip(), (channel or "").strip()
    if status and status not in STATUSES:
        problems.add("status", N_("Not one of the allowed values"))
    if channel and channel not in CHANNELS:
        problems.add("channel", N_("Not one of the allowed values"))
    problems.raise_if_any()
    return {"status": status, "channel": channel}


def deliveries_stmt(filters: dict[str, str]) -> Any:
    """Newest first, filtered by status and channel."""
    stmt = select(Delivery)
    if filters.get("status"):
        stmt = stmt.where(Delivery.status == filters["status"])
    if filters.get("channel"):
        stmt = stmt.where(Delivery.channel == filters["channel"])
    return stmt.order_by(Delivery.created_at.desc(), Delivery.id.desc())


def counts(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())


class DeliveryController(Controller):
    path = "/api/v1/deliveries"
    tags = ["notifications"]

    @get("/", sync_to_thread=True, summary="Messages to WeCom group robots and mailboxes, newest first (office)")
    def list_deliveries(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                        status: FromQuery[str | None] = None, channel: FromQuery[str | None] = None) -> Response[Any]:
        policy.require_office(principal)
        try:
            filters = parse_filters(status, channel)
        except InvalidField as exc:
            errors = field_errors(exc)
            return problem(request, 400, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)
        with request.app.state.db.reads() as session:
            return Response(page(session, deliveries_stmt(filters), limit, offset, delivery_out))


@get("/admin/deliveries", include_in_schema=False, name="admin:deliveries")
async def deliveries_page(request: Request, status: FromQuery[str | None] = None, channel: FromQuery[str | None] = None,
                          offset: FromQuery[int] = 0) -> Response[str]:
    require_office_principal(request)
    errors: dict[str, str] = {}
    try:
        filters = parse_filters(status, channel)
    except InvalidField:
        filters, errors = {"status": "", "channel": ""}, {"status": "x"}
    offset = max(0, offset)

    def read() -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            found = page(session, deliveries_stmt(filters), PER_PAGE, offset, lambda d: d)
            return {"rows": [{"d": d, "target": shown_target(d)} for d in found["items"]],
                    "next_offset": found["next_offset"], "counts": counts(session)}

    context = await anyio.to_thread.run_sync(read)
    query = {k: v for k, v in filters.items() if v}
    context.update(filters=filters, query=query, offset=offset, per_page=PER_PAGE, statuses=STATUSES,
                   channels=CHANNELS, errors=errors)
    return render(request, "notify/deliveries.html", context, status=400 if errors else 200)


@post("/admin/deliveries/{delivery_id:uuid}/retry", include_in_schema=False)
async def retry_page(request: Request, delivery_id: FromPath[UUID]) -> Response[Any]:
    """Send a failed or given-up message again at the sender's next tick, its attempts counted afresh."""
    p = require_office_principal(request)
    form, _ = await _form(request)
    back = str(form.get("next") or "/admin/deliveries")
    if not back.startswith("/admin/deliveries"):
        back = "/admin/deliveries"

    def retry() -> None:
        with request.app.state.db.transaction(actor=p) as session:
            if sender.retry_now(session, delivery_id, utcnow()):
                audit_write(session, p, "delivery.retry", "delivery", delivery_id)

    await anyio.to_thread.run_sync(retry)
    scheduler = request.app.state.get("scheduler")
    if scheduler is not None:
        scheduler.wake()
    return redirect(request, back)


DELIVERY_PAGE_HANDLERS = [deliveries_page, retry_page]
DELIVERY_API_HANDLERS = [DeliveryController]
