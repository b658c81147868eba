"""Pages of the cases' journeys: raise a request, the queues, a case's page with its actions, routing.

Every action posts to a small handler that calls the case service; a refusal of the service (403 / 409 / 422)
comes back as the case's page with the service's message, and nothing is recorded.
"""
from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery

from common import policy
from common.api.deps import OffsetQ
from common.errors import Conflict, DomainError, Forbidden, InvalidField
from common.models import Case
from common.policy import Principal
from common.reference import CATEGORIES, CHANNELS, JURISDICTIONS, URGENCIES
from common.rules import CASE_ROLE_VALUES
from common.cases import rules as case_rules
from common.cases import service as cases
from common.attachments.service import add_attachment
from common.attachments.pages import upload_limit
from common.web.auth import require_office_principal, require_principal
from common.cases.views import case_context, describe_error, error_messages, queue_context, queue_filters, unit_names
from common.roster.picker import enterprise_picker
from common.web.errors import field_errors
from common.web.htmx import redirect
from common.web.templating import render

CASE_FIELDS = ("enterprise_id", "channel", "category", "urgency", "jurisdiction", "title", "description")
PREFILL = ("enterprise_id", "channel", "title", "description", "category", "urgency")


def _status_of(exc: DomainError) -> int:
    if isinstance(exc, InvalidField):
        return 422
    if isinstance(exc, Forbidden):
        return 403
    return 409 if isinstance(exc, Conflict) else 400


async def _form(request: Request) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
    """The form's text fields (lists kept where a name repeats) and its chosen files, read before the thread hop."""
    form = await request.form()
    data: dict[str, Any] = {}
    files: list[tuple[str, str, bytes]] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            content = await value.read()
            if value.filename or content:
                files.append((value.filename or "file", value.content_type or "application/octet-stream", content))
        elif key != "csrf_token":
            data.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in data.items()}, files


def one(value: Any) -> Any:
    """A field that holds one value: the first, when a hand-made request repeats its name (the form never does)."""
    return value[0] if isinstance(value, list) else value


def _offered(p: Principal, field: str, choices: dict[str, str]) -> dict[str, str]:
    """The choices of a case field the role may give (common/rules.py CASE_ROLE_VALUES): the form offers no other."""
    allowed = CASE_ROLE_VALUES.get(field, {}).get(p.role)
    return choices if allowed is None else {k: v for k, v in choices.items() if k in allowed}


def _case_data(form: dict[str, Any], p: Principal | None = None) -> dict[str, Any]:
    """The JSON the service takes, from a form whose category fields are named `details.<key>`."""
    data = {k: one(form.get(k)) or None for k in CASE_FIELDS}
    if p is not None and p.role == "enterprise":
        # Not asked on a workstation's form: the only values its role may give.
        data["channel"] = data["channel"] or "platform"
        data["jurisdiction"] = data["jurisdiction"] or "local"
    data["details"] = {k.split(".", 1)[1]: one(v) for k, v in form.items() if k.startswith("details.")}
    return data


def _typed_values(form: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """What the person sent, to fill the form again: every field the form shows (left out ones blank), one value each."""
    return {**{k: "" for k in CASE_FIELDS}, **{k: one(v) for k, v in form.items()},
            **{k: data[k] or "" for k in CASE_FIELDS}, "details": data["details"]}


# ── The queues ────────────────────────────────────────────────────────────────────────────────────────────────

@get("/cases", include_in_schema=False, sync_to_thread=True)
def cases_page(request: Request, q: FromQuery[str | None] = None, status: FromQuery[str | None] = None,
               category: FromQuery[str | None] = None, urgency: FromQuery[str | None] = None,
               unit: FromQuery[str | None] = None, offset: OffsetQ = 0) -> Response[str]:
    p = require_principal(request)
    filters = queue_filters(p, q, status, category, urgency, unit)
    with request.app.state.db.reads() as session:
        context = queue_context(session, p, filters, max(0, offset))
    return render(request, "cases/list.html", context, partial="cases/_rows.html")


# ── Raising a request / the hotline intake ────────────────────────────────────────────────────────────────────

def _new_context(session: Any, dialect: str, p: Principal, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    category = values.get("category") or ""
    return {
        "values": values, "details": values.get("details") or {}, "errors": errors, "category": category,
        "category_fields": case_rules.CATEGORY_FIELDS.get(category, ()), "common_fields": case_rules.COMMON_FIELDS,
        "caller_fields": case_rules.CALLER_FIELDS if p.is_office else (),
        "categories": CATEGORIES, "channels": _offered(p, "channel", CHANNELS),
        "urgencies": _offered(p, "urgency", URGENCIES), "jurisdictions": _offered(p, "jurisdiction", JURISDICTIONS),
        # A workstation raises through the platform in the city's jurisdiction: not asked what only the police set.
        "asks_intake": p.role != "enterprise",
        "enterprise_picker": enterprise_picker(session, p, dialect, "enterprise_id", values.get("enterprise_q"),
                                               values.get("enterprise_id"), required=p.role == "enterprise"),
        "hotline": p.is_office,
    }


@get("/cases/new", include_in_schema=False)
async def new_case_page(request: Request) -> Response[str]:
    # Async (the thread hop by hand): a sync GET beside an async POST on one path is mis-wrapped by Litestar 2.25.
    p = require_principal(request)
    policy.require_write(p, "case", "create")
    values: dict[str, Any] = {k: request.query_params.get(k, "") for k in (*PREFILL, "enterprise_q")}
    values["channel"] = values["channel"] if values["channel"] in CHANNELS else ("hotline" if p.is_office else "platform")
    values["urgency"] = values["urgency"] if values["urgency"] in URGENCIES else "routine"
    values["category"] = values["category"] if values["category"] in CATEGORIES else ""
    values["jurisdiction"] = "local"

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            context = _new_context(session, request.app.state.db.dialect, p, values, {})
        # Changing the category swaps in its own fields.
        return render(request, "cases/new.html", context, partial="cases/_category_fields.html")

    return await anyio.to_thread.run_sync(work)


@post("/cases/new", include_in_schema=False, request_max_body_size=None, middleware=[upload_limit()])
async def create_case_page(request: Request) -> Response[Any]:
    p = require_principal(request)
    form, files = await _form(request)
    data = _case_data(form, p)
    state = request.app.state

    def work() -> Any:
        with state.db.transaction(actor=p) as session:
            case = cases.create_case(session, p, data)
            for filename, content_type, content in files:
                add_attachment(session, p, state.blobs, "case", case.id, filename, content_type, content)
            return case.id

    try:
        case_id = await anyio.to_thread.run_sync(work)
    except InvalidField as exc:
        errors = error_messages(exc)

        def again() -> dict[str, Any]:
            with state.db.reads() as session:
                return _new_context(session, state.db.dialect, p, _typed_values(form, data), errors)

        return render(request, "cases/new.html", await anyio.to_thread.run_sync(again), status=422)
    return redirect(request, f"/cases/{case_id}")


# ── A case's page and its actions ─────────────────────────────────────────────────────────────────────────────

def _case_page(request: Request, p: Principal, case_id: UUID, *, error: DomainError | None = None,
               failed: dict[str, Any] | None = None) -> Response[str]:
    with request.app.state.db.reads() as session:
        case = policy.get_visible(session, Case, case_id, p)
        context = case_context(session, p, case)
    if error is not None:
        context["action_error"] = error
        context["failed"] = failed or {}
        context["failed_errors"] = error_messages(error) if isinstance(error, InvalidField) else {}
        context["error_text"] = "; ".join(e["message"] for e in field_errors(error)) if isinstance(error, InvalidField) \
            else describe_error(error)
    return render(request, "cases/detail.html", context, status=_status_of(error) if error is not None else 200)


@get("/cases/{case_id:uuid}", include_in_schema=False, sync_to_thread=True)
def case_page(request: Request, case_id: FromPath[UUID]) -> Response[str]:
    return _case_page(request, require_principal(request), case_id)


async def _act(request: Request, case_id: UUID, action: Any, form: dict[str, Any]) -> Response[Any]:
    """Run one action in a transaction: on success back to the case, on a refusal the page with the reason."""
    p = require_principal(request)
    db = request.app.state.db

    def work() -> None:
        with db.transaction(actor=p) as session:
            action(session, p)

    try:
        await anyio.to_thread.run_sync(work)
    except (Forbidden, Conflict, InvalidField) as exc:
        refusal: DomainError = exc
        return await anyio.to_thread.run_sync(lambda: _case_page(request, p, case_id, error=refusal, failed=form))
    if one(form.get("back")) == "jwg":  # decided from the leader's queue: back to the queue
        return redirect(request, f"/cases/jwg?done={form.get('kind')}")
    return redirect(request, f"/cases/{case_id}#timeline")


def _satisfaction(kind: str, value: Any) -> Any:
    # Only a callback carries a score; as typed otherwise, for the case's rules to refuse (not a number to store).
    if kind != "callback":
        return None
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) <= 3 else (text or None)


@post("/cases/{case_id:uuid}/events", include_in_schema=False, request_max_body_size=None,
      middleware=[upload_limit()])
async def case_event(request: Request, case_id: FromPath[UUID]) -> Response[Any]:
    form, files = await _form(request)
    kind = str(one(form.get("kind")) or "")
    data = {"kind": kind, "unit": one(form.get("unit")) or None, "note": one(form.get("note")) or None,
            "satisfaction": _satisfaction(kind, one(form.get("satisfaction"))), "until": one(form.get("until")) or None}
    store = request.app.state.blobs
    return await _act(request, case_id, lambda session, p: cases.add_event_with_files(session, p, store, case_id, data, files),
                      form)


@post("/cases/{case_id:uuid}/dispatch", include_in_schema=False)
async def case_dispatch(request: Request, case_id: FromPath[UUID]) -> Response[Any]:
    form, _ = await _form(request)
    co = form.get("co") or []
    co_units = [co] if isinstance(co, str) else list(co)
    return await _act(request, case_id,
                      lambda session, p: cases.dispatch_units(session, p, case_id, one(form.get("lead")) or None, co_units),
                      {**form, "kind": "dispatched"})


@post("/cases/{case_id:uuid}/plan", include_in_schema=False)
async def case_plan_step(request: Request, case_id: FromPath[UUID]) -> Response[Any]:
    form, _ = await _form(request)
    return await _act(request, case_id,
                      lambda session, p: cases.complete_plan_step(session, p, case_id, str(one(form.get("step")) or ""),
                                                                  one(form.get("note"))),
                      {**form, "kind": "plan"})


# ── The office's routing table ────────────────────────────────────────────────────────────────────────────────

def routing_page_response(request: Request, table: dict[str, Any], errors: dict[str, str], saved: bool, status: int = 200) -> Response[str]:
    with request.app.state.db.reads() as session:
        units = unit_names(session)
    return render(request, "cases/routing.html", {"table": table, "errors": errors, "saved": saved, "units": units,
                                                  "categories": CATEGORIES},
                  status=status)


@get("/cases/routing", include_in_schema=False)
async def routing_page(request: Request, saved: FromQuery[str | None] = None) -> Response[str]:
    require_office_principal(request)

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            table = cases.routing(session)
        return routing_page_response(request, table, {}, bool(saved))

    return await anyio.to_thread.run_sync(work)


CASE_PAGE_HANDLERS = [cases_page, new_case_page, create_case_page, case_page, case_event, case_dispatch,
                      case_plan_step, routing_page]
