"""Pages of the applications' journeys: propose a sub-center or workstation, or a change to a node;
the office reviews, comments, returns, approves or rejects; an approval shows the new node's enrollment code once.

Every action calls the federation service; a refusal (403 / 409 / 422) comes back as the page with the reason
next to the field, and nothing is recorded. GETs that share a path with a POST are async (see case_pages.py).
"""
from __future__ import annotations

from typing import Any, Callable
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery

from common import policy
from common.api.deps import OffsetQ
from common.errors import Conflict, DomainError, Forbidden, InvalidField
from common.models import NodeApplication
from common.policy import Principal
from common.federation import service as federation
from common.attachments.service import add_attachment
from common.federation import views
from common.attachments.pages import upload_limit
from common.web.auth import require_principal
from common.cases.pages import _form, _status_of, one
from common.cases.views import describe_error, error_messages
from common.web.htmx import redirect
from common.web.templating import render

# The code must never sit in a cache or the browser's history: it is shown on this one answer only.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _db_work(request: Request, fn: Callable[[Any], Any], write: bool = False) -> Any:
    """Run `fn(session)` in a worker thread inside a read or a write transaction (for the person logged in)."""
    db = request.app.state.db
    actor = require_principal(request) if write else None

    def work() -> Any:
        with (db.transaction(actor=actor) if write else db.reads()) as session:
            return fn(session)

    return anyio.to_thread.run_sync(work)


# ── The list ──────────────────────────────────────────────────────────────────────────────────────────────────

@get("/applications", include_in_schema=False)
async def applications_page(request: Request, status: FromQuery[str | None] = None, kind: FromQuery[str | None] = None,
                            q: FromQuery[str | None] = None, offset: OffsetQ = 0) -> Response[str]:
    p = require_principal(request)
    filters = {"status": status or "", "kind": kind or "", "q": (q or "").strip()}
    context = await _db_work(request, lambda s: views.list_context(s, p, filters, max(0, offset)))
    return render(request, "federation/list.html", context, partial="federation/_rows.html")


# ── Applying, and editing a returned application ──────────────────────────────────────────────────────────────

def _form_page(request: Request, p: Principal, values: dict[str, Any], errors: dict[str, str],
               application: NodeApplication | None = None, status: int = 200) -> Any:
    def build(session: Any) -> Response[str]:
        context = views.form_context(session, p, values, errors, application,
                                     request.query_params.get("host_enterprise_q", ""))
        template = "federation/edit.html" if application is not None else "federation/new.html"
        # Changing the kind swaps in that kind's fields.
        return render(request, template, context, partial="federation/_fields.html", status=status)

    return _db_work(request, build)


@get("/applications/new", include_in_schema=False)
async def new_application_page(request: Request, kind: FromQuery[str | None] = None,
                               target_node: FromQuery[str | None] = None) -> Response[str]:
    p = require_principal(request)
    policy.require_write(p, "application", "create", p.node_id)
    values = await _db_work(request, lambda s: views.default_values(s, p, kind or "", target_node or ""))
    # Switching the kind keeps what was already typed in the fields both kinds share.
    typed = {k: v for k, v in request.query_params.items() if k in views.FORM_FIELDS and k != "kind" and v}
    return await _form_page(request, p, {**values, **typed}, {})


def _application_data(form: dict[str, Any]) -> dict[str, Any]:
    return {k: one(form.get(k)) or None for k in views.FORM_FIELDS if k in form}


@post("/applications/new", include_in_schema=False, request_max_body_size=None, middleware=[upload_limit()])
async def create_application_page(request: Request) -> Response[Any]:
    p = require_principal(request)
    form, files = await _form(request)
    data = _application_data(form)
    blobs = request.app.state.blobs

    def create(session: Any) -> UUID:
        application = federation.create_application(session, p, data)
        for filename, content_type, content in files:
            add_attachment(session, p, blobs, "application", application.id, filename, content_type, content)
        return application.id

    try:
        application_id = await _db_work(request, create, write=True)
    except InvalidField as exc:
        return await _form_page(request, p, {**{f: "" for f in views.FORM_FIELDS}, **form}, error_messages(exc),
                                status=422)
    return redirect(request, f"/applications/{application_id}")


@get("/applications/{application_id:uuid}/edit", include_in_schema=False)
async def edit_application_page(request: Request, application_id: FromPath[UUID]) -> Response[str]:
    p = require_principal(request)

    def load(session: Any) -> tuple[NodeApplication, dict[str, Any]]:
        application = policy.get_visible(session, NodeApplication, application_id, p)
        policy.require_write(p, "application", "update", application.node_id)
        return application, views.values_of(application, p)

    application, values = await _db_work(request, load)
    if application.status not in ("submitted", "returned"):
        return redirect(request, f"/applications/{application_id}")
    return await _form_page(request, p, values, {}, application)


@post("/applications/{application_id:uuid}/edit", include_in_schema=False, request_max_body_size=None,
      middleware=[upload_limit()])
async def update_application_page(request: Request, application_id: FromPath[UUID]) -> Response[Any]:
    p = require_principal(request)
    form, files = await _form(request)
    data = {k: v for k, v in _application_data(form).items() if k not in ("kind", "target_node")}
    blobs = request.app.state.blobs

    def update(session: Any) -> None:
        application = federation.update_application(session, p, application_id, data)
        for filename, content_type, content in files:
            add_attachment(session, p, blobs, "application", application.id, filename, content_type, content)

    try:
        await _db_work(request, update, write=True)
    except InvalidField as exc:
        application = await _db_work(request, lambda s: policy.get_visible(s, NodeApplication, application_id, p))
        values = {**views.values_of(application, p), **form}
        return await _form_page(request, p, values, error_messages(exc), application, status=422)
    return redirect(request, f"/applications/{application_id}")


# ── One application, and the office's review ──────────────────────────────────────────────────────────────────

def _detail(request: Request, p: Principal, application_id: UUID, *, code: str | None = None,
            head: tuple[str, str] | None = None, error: DomainError | None = None,
            failed: dict[str, Any] | None = None) -> Any:
    state = request.app.state

    def build(session: Any) -> Response[str]:
        application = policy.get_visible(session, NodeApplication, application_id, p)
        context = views.detail_context(session, p, application, state.at_hub, state.clock())
        if code is not None:
            context.update(fresh_code=code, qr=views.qr_svg(code), enrollment_ttl=federation.ENROLLMENT_TTL)
        if head is not None:
            context.update(head_username=head[0], head_setup_url=head[1])
        if error is not None:
            context.update(failed=failed or {}, error_text=describe_error(error),
                           errors=error_messages(error) if isinstance(error, InvalidField) else {})
        status = _status_of(error) if error is not None else 200
        return render(request, "federation/detail.html", context, status=status,
                      headers=NO_STORE if code is not None or head is not None else None)

    return _db_work(request, build)


@get("/applications/{application_id:uuid}", include_in_schema=False)
async def application_page(request: Request, application_id: FromPath[UUID]) -> Response[str]:
    return await _detail(request, require_principal(request), application_id)


@get("/applications/{application_id:uuid}/print", include_in_schema=False)
async def print_page(request: Request, application_id: FromPath[UUID]) -> Response[str]:
    """The application and its history on paper, for the file of the office (Art. 20)."""
    p = require_principal(request)
    state = request.app.state

    def build(session: Any) -> Response[str]:
        application = policy.get_visible(session, NodeApplication, application_id, p)
        context = views.detail_context(session, p, application, state.at_hub, state.clock())
        return render(request, "federation/print.html", context)

    return await _db_work(request, build)


async def act(request: Request, application_id: UUID, action: Callable[[Any, Principal], Any],
               form: dict[str, Any], anchor: str) -> Response[Any]:
    """Run one review action: a code it issued, or a head's setup link (an action answers `(code, (username, url))`),
    is shown on this answer only; a refusal shows the reason."""
    p = require_principal(request)
    try:
        done = await _db_work(request, lambda session: action(session, p), write=True)
    except (Forbidden, Conflict, InvalidField) as exc:
        return await _detail(request, p, application_id, error=exc, failed=form)
    code, head = done if isinstance(done, tuple) else (done, None)
    if code is not None or head is not None:
        return await _detail(request, p, application_id, code=code, head=head)
    return redirect(request, f"/applications/{application_id}#{anchor}")


APPLICATION_PAGE_HANDLERS = [applications_page, new_application_page, create_application_page,
                             edit_application_page, update_application_page, application_page, print_page]
