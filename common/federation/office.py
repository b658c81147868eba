"""The office's own work on the federation, mounted by the hub alone: decisions on applications, comments,
enrollment codes, and the pages of police units and of nodes."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery

from common import policy
from common.errors import Conflict, InvalidField
from common.i18n import N_
from common.models import NodeApplication
from common.policy import Principal
from common.federation import service as federation
from common.federation import admin_views, units, views
from common.cases.pages import _form, _status_of, one
from common.cases.views import describe_error, error_messages
from common.federation.pages import _db_work, act
from common.identity import setup_links
from common.identity.office_api import base_url_of
from common.notify.webhooks import mask_webhook
from common.validation import mask_phone
from common.web.auth import require_office_principal
from common.web.htmx import redirect
from common.web.templating import render


@post("/applications/{application_id:uuid}/decision", include_in_schema=False, name="applications:decide")
async def decide_page(request: Request, application_id: FromPath[UUID]) -> Response[Any]:
    form, _ = await _form(request)
    now = request.app.state.clock()

    def decide(session: Any, p: Principal) -> tuple[str | None, tuple[str, str] | None]:
        _, code, head = federation.decide_application(session, p, application_id, str(one(form.get("decision")) or ""),
                                                      str(one(form.get("comment")) or ""), now)
        link = (head.username, setup_links.setup_url(base_url_of(request), head.token)) if head else None
        return code, link

    return await act(request, application_id, decide, form, "history")


@post("/applications/{application_id:uuid}/comment", include_in_schema=False, name="applications:comment")
async def comment_page(request: Request, application_id: FromPath[UUID]) -> Response[Any]:
    form, _ = await _form(request)

    def comment(session: Any, p: Principal) -> None:
        federation.comment_on_application(session, p, application_id, str(one(form.get("comment")) or ""))

    return await act(request, application_id, comment, {**form, "decision": "comment"}, "history")


@post("/applications/{application_id:uuid}/enrollment-code", include_in_schema=False,
      name="applications:enrollment-code")
async def new_code_page(request: Request, application_id: FromPath[UUID]) -> Response[Any]:
    await _form(request)
    now = request.app.state.clock()

    def issue(session: Any, p: Principal) -> str:
        application = policy.get_visible(session, NodeApplication, application_id, p)
        if application.status != "approved" or application.kind not in views.NEW_KINDS or not application.created_node:
            raise Conflict(N_("Only an approved new node has an enrollment code."))
        return federation.reissue_enrollment_code(session, p, application.created_node, now)

    return await act(request, application_id, issue, {}, "enrollment")


APPLICATION_OFFICE_HANDLERS = [decide_page, comment_page, new_code_page]


# ── Units and nodes (/admin/units, /admin/nodes) ──────────────────────────────────────────────────────────────

UNIT_FIELDS = ("id", "name", "name_en")


def _units_page(request: Request, *, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                unit_error: tuple[str, str] | None = None, status: int = 200) -> Any:
    def build(session: Any) -> Response[str]:
        context = {"rows": units.unit_roster(session), "values": values or {f: "" for f in UNIT_FIELDS},
                   "errors": errors or {}, "unit_error": unit_error, "mask_phone": mask_phone,
                   "mask_webhook": mask_webhook}
        return render(request, "federation/units.html", context, status=status)

    return _db_work(request, build)


@get("/admin/units", include_in_schema=False, name="admin:units")
async def units_page(request: Request) -> Response[str]:
    require_office_principal(request)
    return await _units_page(request)


@post("/admin/units", include_in_schema=False)
async def create_unit_page(request: Request) -> Response[Any]:
    p = require_office_principal(request)
    form, _ = await _form(request)
    data = {f: str(one(form.get(f)) or "") for f in UNIT_FIELDS}
    try:
        await _db_work(request, lambda session: units.create_station(session, p, data), write=True)
    except InvalidField as exc:
        return await _units_page(request, values=data, errors=error_messages(exc), status=422)
    return redirect(request, f"/admin/units#unit-{data['id'].strip()}")


@post("/admin/units/{unit_id:str}", include_in_schema=False)
async def change_unit_page(request: Request, unit_id: FromPath[str]) -> Response[Any]:
    """One form per unit: rename (`name`, `name_en`), move up or down, deactivate or reactivate (`active`)."""
    p = require_office_principal(request)
    form, _ = await _form(request)
    move = str(one(form.get("move")) or "")

    def change(session: Any) -> None:
        if move:
            units.move_unit(session, p, unit_id, move)
            return
        units.update_unit(session, p, unit_id, {k: str(one(form[k])) for k in ("name", "name_en", "active", "webhook_url")
                                                if k in form})

    try:
        await _db_work(request, change, write=True)
    except (Conflict, InvalidField) as exc:
        message = "；".join(error_messages(exc).values()) if isinstance(exc, InvalidField) else describe_error(exc)
        return await _units_page(request, unit_error=(unit_id, message), status=_status_of(exc))
    return redirect(request, f"/admin/units#unit-{unit_id}")


@get("/admin/nodes", include_in_schema=False, name="admin:nodes")
async def nodes_page(request: Request, kind: FromQuery[str | None] = None, status: FromQuery[str | None] = None,
                     region: FromQuery[str | None] = None) -> Response[str]:
    require_office_principal(request)
    filters = {"kind": kind or "", "status": status or "", "region": (region or "").strip()}
    context = await _db_work(request, lambda session: admin_views.nodes_context(session, filters))
    return render(request, "federation/nodes.html", context)


@post("/admin/nodes/{node_id:str}", include_in_schema=False)
async def change_node_page(request: Request, node_id: FromPath[str]) -> Response[Any]:
    """A node's WeCom group robot (`webhook_url`; empty removes it), set from the nodes page."""
    p = require_office_principal(request)
    form, _ = await _form(request)
    data = {"webhook_url": str(one(form.get("webhook_url")) or "")}
    try:
        await _db_work(request, lambda session: federation.update_node(session, p, node_id, data), write=True)
    except (Conflict, InvalidField) as exc:
        message = "；".join(error_messages(exc).values()) if isinstance(exc, InvalidField) else describe_error(exc)
        context = await _db_work(request, lambda session: admin_views.nodes_context(
            session, {"kind": "", "status": "", "region": ""}))
        context["node_error"] = (node_id, message)
        return render(request, "federation/nodes.html", context, status=_status_of(exc))
    return redirect(request, f"/admin/nodes#node-{node_id}")


ADMIN_PAGE_HANDLERS = [units_page, create_unit_page, change_unit_page, nodes_page, change_node_page]
