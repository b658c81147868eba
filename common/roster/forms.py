"""The roster's forms: an enterprise added or edited, its people added, edited and marked as having left, and a
look at one record's personal data in full. Each posts to the same service and rules as the JSON API; a refusal
comes back as the form with the message next to its field, and nothing is written."""
from __future__ import annotations

from typing import Any, Callable
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from sqlalchemy import select

from common import policy
from common.cases.views import error_messages
from common.errors import Forbidden, InvalidField, NotFound
from common.i18n import N_, gettext
from common.cases import service as cases
from common.models import Case, Enterprise, Node, NodeApplication, Person
from common.validation import mask_phone
from common.policy import Principal
from common.reference import INDUSTRIES, RISK_LEVELS
from common.roster import reveal
from common.roster import service as roster
from common.rules import POLICE
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render

ENTERPRISE_TEXT = ("name", "credit_code", "region_code", "address", "industry", "parent_company", "contact_name",
                   "contact_phone", "notes")
PERSON_TEXT = ("name", "id_number", "phone", "position")


async def _posted(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items() if key != "csrf_token"}


async def _in_thread(work: Callable[[], Any]) -> Any:
    return await anyio.to_thread.run_sync(work)


def _node_choices(session: Any, p: Principal) -> dict[str, str]:
    """The nodes an enterprise may be placed at by `p`: any active node for the office, else its own subtree."""
    stmt = select(Node.id, Node.name).where(Node.status == "active").order_by(Node.kind, Node.name)
    if not p.is_office:
        stmt = stmt.where(Node.id.in_(sorted(p.subtree)))
    return dict(session.execute(stmt).all())


# --- enterprises ------------------------------------------------------------------------------------------------

def _enterprise_data(form: dict[str, str], p: Principal, creating: bool) -> dict[str, Any]:
    """The form as the service takes it. Police-only fields are read only from the police roles' forms (no other
    form offers them); an unticked box is a "no"."""
    data: dict[str, Any] = {k: form[k] for k in ENTERPRISE_TEXT if k in form}
    if "node" in form and (creating or p.role != "enterprise"):
        data["node"] = form["node"]
    if p.role in POLICE:
        if "risk_level" in form:
            data["risk_level"] = form["risk_level"]
        data["is_key"] = form.get("is_key") in ("1", "on", "true")
    return data


def _enterprise_context(session: Any, p: Principal, values: dict[str, Any], errors: dict[str, str],
                        enterprise_id: str | None) -> dict[str, Any]:
    values = {**dict.fromkeys(ENTERPRISE_TEXT, ""), "node": "", "risk_level": "low", "is_key": False, **values}
    return {"values": values, "errors": errors, "enterprise_id": enterprise_id, "industries": INDUSTRIES,
            "risk_levels": RISK_LEVELS, "police": p.role in POLICE, "nodes": _node_choices(session, p),
            "choose_node": p.role in ("office", "subcenter")}


@get("/enterprises/new", include_in_schema=False)
async def new_enterprise_page(request: Request) -> Response[str]:
    p = require_principal(request)
    policy.require_write(p, "enterprise", "create")

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            values = {"industry": "other", "risk_level": "low", "node": p.node_id, "is_key": False}
            return render(request, "roster/enterprise_form.html", _enterprise_context(session, p, values, {}, None))

    return await _in_thread(work)


@post("/enterprises/new", include_in_schema=False)
async def create_enterprise_page(request: Request) -> Response[Any]:
    p = require_principal(request)
    form = await _posted(request)
    data = _enterprise_data(form, p, creating=True)
    db = request.app.state.db

    def work() -> Any:
        with db.transaction(actor=p) as session:
            return roster.create_enterprise(session, p, data).id

    try:
        enterprise_id = await _in_thread(work)
    except InvalidField as exc:
        return await _enterprise_again(request, p, form, error_messages(exc), None)
    return redirect(request, f"/enterprises/{enterprise_id}")


@get("/enterprises/{enterprise_id:uuid}/edit", include_in_schema=False)
async def edit_enterprise_page(request: Request, enterprise_id: FromPath[UUID]) -> Response[str]:
    p = require_principal(request)

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            enterprise = policy.get_visible(session, Enterprise, enterprise_id, p)
            policy.require_write(p, "enterprise", "update", enterprise.node_id)
            values = roster.enterprise_out(enterprise, p)
            return render(request, "roster/enterprise_form.html",
                          _enterprise_context(session, p, values, {}, str(enterprise.id)))

    return await _in_thread(work)


@post("/enterprises/{enterprise_id:uuid}/edit", include_in_schema=False)
async def update_enterprise_page(request: Request, enterprise_id: FromPath[UUID]) -> Response[Any]:
    p = require_principal(request)
    form = await _posted(request)
    data = _enterprise_data(form, p, creating=False)
    db = request.app.state.db

    def work() -> None:
        with db.transaction(actor=p) as session:
            roster.update_enterprise(session, p, enterprise_id, data)

    try:
        await _in_thread(work)
    except InvalidField as exc:
        return await _enterprise_again(request, p, form, error_messages(exc), str(enterprise_id))
    return redirect(request, f"/enterprises/{enterprise_id}")


async def _enterprise_again(request: Request, p: Principal, form: dict[str, str], errors: dict[str, str],
                            enterprise_id: str | None) -> Response[str]:
    values: dict[str, Any] = dict(form, is_key=form.get("is_key") in ("1", "on", "true"))

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            return render(request, "roster/enterprise_form.html",
                          _enterprise_context(session, p, values, errors, enterprise_id), status=422)

    return await _in_thread(work)


# --- people -----------------------------------------------------------------------------------------------------

def _person_data(form: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: form[k] for k in PERSON_TEXT if k in form}
    if "enterprise_id" in form:
        data["enterprise_id"] = form["enterprise_id"]
    if "left" in form or "left_on" in form:
        # "Has left" ticked: the day given, or today; unticked: still working there.
        data["left_on"] = (form.get("left_on") or roster.today().isoformat()) if form.get("left") else None
    return data


def _person_context(enterprise: Enterprise, values: dict[str, Any], errors: dict[str, str],
                    person_id: str | None) -> dict[str, Any]:
    values = {**dict.fromkeys(PERSON_TEXT, ""), "left": False, "left_on": "", **values}
    return {"enterprise": enterprise, "values": values, "errors": errors, "person_id": person_id,
            "today": roster.today().isoformat()}


@get("/people/new", include_in_schema=False)
async def new_person_page(request: Request, enterprise_id: FromQuery[UUID | None] = None) -> Response[str]:
    p = require_principal(request)
    if enterprise_id is None:
        raise NotFound()

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            enterprise = policy.get_visible(session, Enterprise, enterprise_id, p)
            policy.require_write(p, "person", "create", enterprise.node_id)
            values = {"enterprise_id": str(enterprise.id)}
            return render(request, "roster/person_form.html", _person_context(enterprise, values, {}, None))

    return await _in_thread(work)


@post("/people/new", include_in_schema=False)
async def create_person_page(request: Request) -> Response[Any]:
    p = require_principal(request)
    form = await _posted(request)
    data = _person_data(form)
    db = request.app.state.db

    def work() -> Any:
        with db.transaction(actor=p) as session:
            return roster.create_person(session, p, data).enterprise_id

    try:
        enterprise_id = await _in_thread(work)
    except InvalidField as exc:
        return await _person_again(request, p, form, error_messages(exc), None, form.get("enterprise_id", ""))
    return redirect(request, f"/enterprises/{enterprise_id}#people")


@get("/people/{person_id:uuid}/edit", include_in_schema=False)
async def edit_person_page(request: Request, person_id: FromPath[UUID]) -> Response[str]:
    p = require_principal(request)

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            person = policy.get_visible(session, Person, person_id, p)
            policy.require_write(p, "person", "update", person.node_id)
            enterprise = policy.get_visible(session, Enterprise, person.enterprise_id, p)
            values = roster.person_out(person, p)
            values["left"] = person.left_on is not None
            return render(request, "roster/person_form.html",
                          _person_context(enterprise, values, {}, str(person.id)))

    return await _in_thread(work)


@post("/people/{person_id:uuid}/edit", include_in_schema=False)
async def update_person_page(request: Request, person_id: FromPath[UUID]) -> Response[Any]:
    p = require_principal(request)
    form = await _posted(request)
    data = _person_data(dict(form, left_on=form.get("left_on", "")))
    data.pop("enterprise_id", None)
    db = request.app.state.db

    def work() -> Any:
        with db.transaction(actor=p) as session:
            return roster.update_person(session, p, person_id, data).enterprise_id

    try:
        enterprise_id = await _in_thread(work)
    except InvalidField as exc:
        return await _person_again(request, p, form, error_messages(exc), str(person_id), None)
    return redirect(request, f"/enterprises/{enterprise_id}#people")


async def _person_again(request: Request, p: Principal, form: dict[str, str], errors: dict[str, str],
                        person_id: str | None, enterprise_id: str | None) -> Response[str]:
    values: dict[str, Any] = dict(form, left=bool(form.get("left")))

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            if person_id is not None:
                owner = policy.get_visible(session, Person, UUID(person_id), p).enterprise_id
            else:
                try:
                    owner = UUID(enterprise_id or "")
                except ValueError:
                    raise NotFound() from None
            enterprise = policy.get_visible(session, Enterprise, owner, p)
            return render(request, "roster/person_form.html", _person_context(enterprise, values, errors, person_id),
                          status=422)

    return await _in_thread(work)


# --- a look at personal data in full ----------------------------------------------------------------------------

def _reveal_target(session: Any, p: Principal, kind: str, row_id: UUID) -> dict[str, Any]:
    """What a look in full is about: its name, the fields shown masked, and the page to go back to."""
    if kind == "person":
        person = policy.get_visible(session, Person, row_id, p)
        enterprise = policy.get_visible(session, Enterprise, person.enterprise_id, p)
        masked = roster.person_out(person, p)
        return {"kind": kind, "name": person.name, "back": f"/enterprises/{enterprise.id}#people",
                "back_label": enterprise.name, "fields": {"id_number": masked["id_number"], "phone": masked["phone"]}}
    if kind == "case":
        case = policy.get_visible(session, Case, row_id, p)
        details = cases.case_out(case, p)["details"]
        return {"kind": kind, "name": details.get("caller_name") or "", "back": f"/cases/{case.id}",
                "back_label": case.number, "fields": {"caller_phone": details.get("caller_phone") or ""}}
    if kind == "application":
        application = policy.get_visible(session, NodeApplication, row_id, p)
        return {"kind": kind, "name": application.head_name, "back": f"/applications/{application.id}",
                "back_label": application.name, "fields": {"head_phone": mask_phone(application.head_phone)}}
    enterprise = policy.get_visible(session, Enterprise, row_id, p)
    masked = roster.enterprise_out(enterprise, p)
    return {"kind": kind, "name": enterprise.contact_name, "back": f"/enterprises/{enterprise.id}",
            "back_label": enterprise.name, "fields": {"contact_phone": masked["contact_phone"]}}


REVEALERS = {"person": reveal.reveal_person, "enterprise": reveal.reveal_contact, "case": reveal.reveal_caller,
             "application": reveal.reveal_head}


async def _reveal_form(request: Request, kind: str, row_id: UUID) -> Response[str]:
    p = require_principal(request)
    if not policy.may_reveal(p):
        raise Forbidden(N_("Only the center office and liaison officers may see personal data in full."))

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            target = _reveal_target(session, p, kind, row_id)
        return render(request, "roster/reveal.html", {"target": target, "values": {}, "errors": {}, "shown": None})

    return await _in_thread(work)


async def _reveal(request: Request, kind: str, row_id: UUID) -> Response[str]:
    p = require_principal(request)
    form = await _posted(request)
    state = request.app.state
    shown: dict[str, Any] | None = None
    errors: dict[str, str] = {}
    status = 200
    try:
        reason = reveal.check_request(p, form)
        await _in_thread(lambda: reveal.count_look(state.db, p, state.clock(), state.settings.node_id))

        def work() -> dict[str, Any]:
            with state.db.transaction(actor=p) as session:
                return REVEALERS[kind](session, p, row_id, reason)

        shown = await _in_thread(work)
    except InvalidField as exc:
        errors, status = error_messages(exc), 422
    except reveal.RevealLimited:
        errors = {"reason": gettext(N_("Too many looks at personal data in a short time. Try again later."))}
        status = 429

    def page() -> Response[str]:
        with state.db.reads() as session:
            target = _reveal_target(session, p, kind, row_id)
        response = render(request, "roster/reveal.html",
                          {"target": target, "values": form, "errors": errors, "shown": shown}, status=status)
        # Personal data in full is not kept by the browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
        return response

    return await _in_thread(page)


def _reveal_routes(kind: str, path: str, param: str) -> list[Any]:
    """The form that asks for a reason, and the look itself, for one kind of record at `path`."""

    @get(path, include_in_schema=False, name=f"reveal:{kind}-form")
    async def reveal_form(request: Request) -> Response[str]:
        return await _reveal_form(request, kind, request.path_params[param])

    @post(path, include_in_schema=False, name=f"reveal:{kind}")
    async def reveal_page(request: Request) -> Response[str]:
        return await _reveal(request, kind, request.path_params[param])

    return [reveal_form, reveal_page]


REVEAL_HANDLERS = [
    *_reveal_routes("person", "/people/{person_id:uuid}/reveal", "person_id"),
    *_reveal_routes("enterprise", "/enterprises/{enterprise_id:uuid}/reveal", "enterprise_id"),
    *_reveal_routes("case", "/cases/{case_id:uuid}/reveal", "case_id"),
    *_reveal_routes("application", "/applications/{application_id:uuid}/reveal", "application_id"),
]


ROSTER_FORM_HANDLERS = [
    new_enterprise_page, create_enterprise_page, edit_enterprise_page, update_enterprise_page,
    new_person_page, create_person_page, edit_person_page, update_person_page, *REVEAL_HANDLERS,
]
