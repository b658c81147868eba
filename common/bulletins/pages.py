"""Pages of the bulletins' journeys: warnings, news and legal information (Art. 12, 19).

The office drafts and publishes at the hub and follows who acknowledged; every other node's people read what is
addressed to them and acknowledge it for their node. Each action posts to a small handler that calls the bulletin
service; a refusal comes back as the same page with the service's message, and nothing is recorded.
"""
from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.types import ControllerRouterHandler
from sqlalchemy import select

from common import policy, regions
from common.api.deps import OffsetQ
from common.errors import Conflict, DomainError, Forbidden, InvalidField
from common.i18n import gettext
from common.models import Attachment, Bulletin, BulletinAck, Node, User
from common.policy import Principal
from common.reference import BULLETIN_KINDS, BULLETIN_SEVERITIES, INDUSTRIES
from common.bulletins import service as bulletins
from common.attachments.service import add_attachment
from common.web.errors import field_errors
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render

BULLETIN_PAGE = 30
TARGET_LISTS = ("regions", "industries", "nodes")




def error_map(exc: InvalidField) -> dict[str, str]:
    """Field → message in the page's language; a refused file is shown by the attachments field."""
    out: dict[str, str] = {}
    for problem in field_errors(exc):
        name = "attachments" if problem["field"] == "file" else problem["field"]
        out.setdefault(name, problem["message"])
    return out


def _status_of(exc: DomainError) -> int:
    if isinstance(exc, InvalidField):
        return 422
    return 403 if isinstance(exc, Forbidden) else 409


def _message_of(exc: DomainError) -> str:
    if isinstance(exc, InvalidField):
        return "；".join(problem["message"] for problem in field_errors(exc))
    return gettext(getattr(exc, "message", str(exc)), **getattr(exc, "params", {}))


# --- the list ---------------------------------------------------------------------------------------------------

@get("/bulletins", include_in_schema=False, sync_to_thread=True)
def bulletins_page(request: Request, kind: FromQuery[str | None] = None, offset: OffsetQ = 0) -> Response[str]:
    p = require_principal(request)
    filters = {"kind": kind if kind in BULLETIN_KINDS else ""}
    with request.app.state.db.reads() as session:
        context = _list_context(session, p, filters, max(0, offset))
    context["can_publish"] = p.is_office and request.app.state.at_hub
    return render(request, "bulletins/list.html", context, partial="bulletins/_rows.html")


def _list_context(session: Any, p: Principal, filters: dict[str, str], offset: int) -> dict[str, Any]:
    """The office sees every bulletin with its acknowledgement progress; a node, what is addressed to it, open first.

    One row more than shown tells whether a next page exists.
    """
    stmt = policy.scoped(Bulletin, p).order_by(Bulletin.id.desc()) if p.is_office else bulletins.node_view(p)
    if filters["kind"]:
        stmt = stmt.where(Bulletin.kind == filters["kind"])
    rows = session.execute(stmt.limit(BULLETIN_PAGE + 1).offset(offset)).all()
    if p.is_office:
        items = [{"bulletin": row[0], "acked": False, "addressed": False, "reminded": False} for row in rows[:BULLETIN_PAGE]]
        progress = bulletins.progress(session, [item["bulletin"].id for item in items])
    else:
        items = [{"bulletin": row[0], "acked": bool(row.acked), "addressed": bool(row.addressed),
                  "reminded": bool(row.reminded)} for row in rows[:BULLETIN_PAGE]]
        progress = {}
    return {"items": items, "has_more": len(rows) > BULLETIN_PAGE, "offset": offset, "page_size": BULLETIN_PAGE,
            "filters": filters, "progress": progress}


# --- drafting and publishing ------------------------------------------------------------------------------------

def _target_choices(session: Any) -> dict[str, Any]:
    """What the office may aim at: provinces and cities where nodes are, the industries, the nodes themselves."""
    nodes = session.execute(select(Node.id, Node.name, Node.kind, Node.region_code)
                            .where(Node.kind != "hub", Node.status != "retired").order_by(Node.path)).all()
    codes: set[str] = set()
    for node in nodes:
        code = node.region_code or ""
        if len(code) == 6 and code.isdigit():
            codes |= {code[:2] + "0000", code[:4] + "00"}
    region_choices = {code: regions.region_name(code) or code for code in sorted(codes) if regions.region_name(code)}
    return {"region_choices": region_choices, "industry_choices": INDUSTRIES,
            "node_choices": [{"id": n.id, "name": n.name, "kind": n.kind} for n in nodes]}


def blank_values() -> dict[str, Any]:
    return {"kind": "warning", "severity": "notice", "title": "", "body": "",
            "targets": {"all": False, "regions": [], "industries": [], "nodes": []}}


def form_context(request: Request, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    with request.app.state.db.reads() as session:
        choices = _target_choices(session)
    return {"values": values, "errors": errors, "kinds": BULLETIN_KINDS, "severities": BULLETIN_SEVERITIES, **choices}


async def read_form(request: Request) -> tuple[dict[str, list[str]], list[tuple[str, str, bytes]]]:
    """Text fields (every value of a repeated name) and the chosen files, read before the thread hop."""
    form = await request.form()
    fields: dict[str, list[str]] = {}
    files: list[tuple[str, str, bytes]] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            content = await value.read()
            if value.filename or content:
                files.append((value.filename or "file", value.content_type or "application/octet-stream", content))
        elif key != "csrf_token":
            fields.setdefault(key, []).append(str(value))
    return fields, files


def bulletin_data(fields: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON the service takes, from a form whose targets are named `targets.all`, `targets.regions`, …"""
    def first(name: str) -> str:
        return (fields.get(name) or [""])[0]

    targets: dict[str, Any] = {"all": first("targets.all") in ("1", "on", "true")}
    for key in TARGET_LISTS:
        targets[key] = [v for v in fields.get(f"targets.{key}", []) if v]
    return {"kind": first("kind"), "severity": first("severity") or None, "title": first("title"), "body": first("body"),
            "targets": targets, "publish": first("publish") or "0"}


def save_bulletin(state: Any, p: Principal, data: dict[str, Any], files: list[tuple[str, str, bytes]]) -> uuid.UUID:
    """The bulletin and its files in one transaction: a refused file leaves no bulletin behind."""
    with state.db.transaction(actor=p) as session:
        bulletin = bulletins.create_bulletin(session, p, data)
        for filename, content_type, content in files:
            add_attachment(session, p, state.blobs, "bulletin", bulletin.id, filename, content_type, content)
        return bulletin.id


# --- one bulletin -------------------------------------------------------------------------------------------------

def _attachments(session: Any, p: Principal, bulletin_id: uuid.UUID) -> list[Attachment]:
    return list(session.scalars(policy.scoped(Attachment, p).where(Attachment.entity_type == "bulletin",
                                                                   Attachment.entity_id == bulletin_id)
                                .order_by(Attachment.created_at, Attachment.id)))


def _own_ack(session: Any, bulletin_id: uuid.UUID, node_id: str) -> dict[str, Any] | None:
    """This node's acknowledgement: when, and by whom (the name, when this node knows the person)."""
    row = session.execute(select(BulletinAck.at, User.username, User.display_name)
                          .outerjoin(User, User.id == BulletinAck.user_id)
                          .where(BulletinAck.bulletin_id == bulletin_id, BulletinAck.node_id == node_id)).first()
    return None if row is None else {"at": row.at, "by": row.username, "by_name": row.display_name}


def _detail_context(request: Request, p: Principal, bulletin_id: UUID) -> dict[str, Any]:
    with request.app.state.db.reads() as session:
        bulletin = policy.get_visible(session, Bulletin, bulletin_id, p)
        context: dict[str, Any] = {"bulletin": bulletin, "attachments": _attachments(session, p, bulletin.id),
                                   "is_publisher": p.is_office and request.app.state.at_hub}
        if p.is_office:
            audience = bulletins.audience_status(session, bulletin.id)
            context.update(audience=audience, pending=[row for row in audience if row["acknowledged_at"] is None],
                           acked_count=sum(1 for row in audience if row["acknowledged_at"] is not None))
        else:
            times, last = bulletins.node_reminders(session, bulletin.id, p.node_id)
            context.update(addressed=bulletins.is_addressed_to(session, bulletin, p.node_id),
                           own_ack=_own_ack(session, bulletin.id, p.node_id), reminders=times, reminded_at=last)
    return context


def detail_page(request: Request, p: Principal, bulletin_id: UUID, *, error: DomainError | None = None,
                 flags: dict[str, Any] | None = None) -> Response[str]:
    context = _detail_context(request, p, bulletin_id)
    context.update({"published": False, "saved": False, "acked": False, "reminded": 0, **(flags or {})})
    context["action_error"] = _message_of(error) if error is not None else ""
    context["action_errors"] = error_map(error) if isinstance(error, InvalidField) else {}
    return render(request, "bulletins/detail.html", context, status=_status_of(error) if error is not None else 200)


@get("/bulletins/{bulletin_id:uuid}", include_in_schema=False, sync_to_thread=True)
def bulletin_page(request: Request, bulletin_id: FromPath[UUID], published: FromQuery[str | None] = None,
                  saved: FromQuery[str | None] = None, acked: FromQuery[str | None] = None,
                  reminded: FromQuery[str | None] = None) -> Response[str]:
    flags = {"published": bool(published), "saved": bool(saved), "acked": bool(acked),
             "reminded": int(reminded) if (reminded or "").isdigit() else 0}
    return detail_page(request, require_principal(request), bulletin_id, flags=flags)


async def act(request: Request, p: Principal, bulletin_id: UUID, action: Any, done: str) -> Response[Any]:
    """Run one action in a transaction: on success back to the bulletin, on a refusal its page with the reason."""
    db = request.app.state.db

    def work() -> Any:
        with db.transaction(actor=p) as session:
            return action(session)

    try:
        outcome = await anyio.to_thread.run_sync(work)
    except (Forbidden, Conflict, InvalidField) as exc:
        refusal: DomainError = exc
        return await anyio.to_thread.run_sync(lambda: detail_page(request, p, bulletin_id, error=refusal))
    return redirect(request, f"/bulletins/{bulletin_id}?{done}={outcome}")


@post("/bulletins/{bulletin_id:uuid}/ack", include_in_schema=False)
async def acknowledge_page(request: Request, bulletin_id: FromPath[UUID]) -> Response[Any]:
    p = require_principal(request)
    return await act(request, p, bulletin_id, lambda session: bulletins.acknowledge(session, p, bulletin_id) and 1,
                      "acked")


BULLETIN_PAGE_HANDLERS: list[ControllerRouterHandler] = [
    bulletins_page, bulletin_page, acknowledge_page,
]
