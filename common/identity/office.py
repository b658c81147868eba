"""The /admin/users pages: the office lists, adds, edits, disables, enables and resets accounts, and decides whether
office and leader accounts need a second factor; mounted by the hub alone. Each form posts to the same service as
the JSON API; a refusal comes back as the form with the message next to its field, and nothing is written."""
from __future__ import annotations

from typing import Any, Callable
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath

from common import policy
from common.cases.views import error_messages, unit_names
from common.errors import InvalidField
from common.federation.names import node_names
from common.i18n import N_
from common.identity import accounts, setup_links
from common.identity.office_api import base_url_of
from common.policy import Principal
from common.reference import ROLES
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render

PAGE_SIZE = 50
FILTERS = ("role", "node", "unit", "active", "q")
TEXT_FIELDS = ("username", "name", "role", "node", "unit", "phone", "email")
ACTIVE_CHOICES = {"true": N_("In use"), "false": N_("Disabled")}


async def _posted(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items() if key != "csrf_token"}


async def _in_thread(work: Callable[[], Any]) -> Any:
    return await anyio.to_thread.run_sync(work)


def _office(request: Request) -> Principal:
    p = require_principal(request)
    policy.require_office(p)
    return p


def _form_data(form: dict[str, str], creating: bool) -> dict[str, Any]:
    data: dict[str, Any] = {k: form.get(k, "") for k in TEXT_FIELDS if k in form or creating}
    data["unit"] = data.get("unit") or None
    if not creating and "*" in str(data.get("phone", "")):
        data.pop("phone")  # the masked number left as it was: keep the stored one
    data["leader"] = form.get("leader") in ("1", "on", "true")
    return data


def _choices(session: Any) -> dict[str, Any]:
    return {"roles": ROLES, "nodes": accounts.node_choices(session), "units": unit_names(session),
            "active_choices": ACTIVE_CHOICES}


@get("/admin/users", include_in_schema=False, name="accounts:list")
async def users_page(request: Request) -> Response[str]:
    p = _office(request)
    filters = {name: (request.query_params.get(name) or "").strip() for name in FILTERS}
    try:
        offset = max(0, min(int(request.query_params.get("offset") or 0), 1_000_000))
    except ValueError:
        offset = 0
    active = {"true": True, "false": False}.get(filters["active"])

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            stmt = accounts.user_query(filters["role"] or None, filters["node"] or None, filters["unit"] or None,
                                       active, filters["q"] or None)
            rows = session.scalars(stmt.limit(PAGE_SIZE + 1).offset(offset)).all()
            context = {"filters": filters, "query": {k: v for k, v in filters.items() if v}, "offset": offset,
                       "page_size": PAGE_SIZE, "has_more": len(rows) > PAGE_SIZE,
                       "users": [accounts.user_out(u) for u in rows[:PAGE_SIZE]],
                       "require_totp": accounts.totp_required(session), "me": str(p.user_id),
                       "node_names": node_names(session), **_choices(session)}
            return render(request, "identity/users.html", context)

    return await _in_thread(work)


def _form_page(request: Request, session: Any, values: dict[str, Any], errors: dict[str, str],
               user_id: str | None, status: int = 200) -> Response[str]:
    values = {**dict.fromkeys(TEXT_FIELDS, ""), "leader": False, **{k: v for k, v in values.items() if v is not None}}
    return render(request, "identity/user_form.html",
                  {"values": values, "errors": errors, "user_id": user_id, **_choices(session)}, status=status)


@get("/admin/users/new", include_in_schema=False)
async def new_user_page(request: Request) -> Response[str]:
    _office(request)

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            return _form_page(request, session, {"role": "liaison", "node": "hub"}, {}, None)

    return await _in_thread(work)


def _link_page(request: Request, user: dict[str, Any], url: str, created: bool) -> Response[str]:
    return render(request, "identity/setup_issued.html", {"user": user, "setup_url": url, "created": created,
                                                          "ttl_hours": int(setup_links.SETUP_TTL.total_seconds() // 3600)},
                  headers={"Cache-Control": "no-store"})


@post("/admin/users/new", include_in_schema=False)
async def create_user_page(request: Request) -> Response[Any]:
    p = _office(request)
    form = await _posted(request)
    data = _form_data(form, creating=True)
    state = request.app.state

    def work() -> Response[str]:
        try:
            with state.db.transaction(actor=p) as session:
                user = accounts.create_user(session, p, data)
                token = setup_links.issue(session, p, user, state.clock())
                out = accounts.user_out(user)
        except InvalidField as exc:
            with state.db.reads() as session:
                return _form_page(request, session, dict(form, leader=data["leader"]), error_messages(exc), None, 422)
        return _link_page(request, out, setup_links.setup_url(base_url_of(request), token), created=True)

    return await _in_thread(work)


@get("/admin/users/{user_id:uuid}/edit", include_in_schema=False)
async def edit_user_page(request: Request, user_id: FromPath[UUID]) -> Response[str]:
    _office(request)

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            user = accounts.get_user(session, user_id)
            values = accounts.user_out(user)
            return _form_page(request, session, values, {}, str(user.id))

    return await _in_thread(work)


@post("/admin/users/{user_id:uuid}/edit", include_in_schema=False)
async def update_user_page(request: Request, user_id: FromPath[UUID]) -> Response[Any]:
    p = _office(request)
    form = await _posted(request)
    data = _form_data(form, creating=False)
    db = request.app.state.db

    def work() -> Response[Any]:
        try:
            with db.transaction(actor=p) as session:
                accounts.update_user(session, p, user_id, data)
        except InvalidField as exc:
            with db.reads() as session:
                return _form_page(request, session, dict(form, leader=data["leader"]), error_messages(exc),
                                  str(user_id), 422)
        return redirect(request, "/admin/users")

    return await _in_thread(work)


def _set_active(active: bool) -> Callable[..., Any]:
    async def change(request: Request, user_id: FromPath[UUID]) -> Response[Any]:
        p = _office(request)
        db = request.app.state.db

        def work() -> None:
            with db.transaction(actor=p) as session:
                accounts.update_user(session, p, user_id, {"active": active})

        await _in_thread(work)
        return redirect(request, "/admin/users")

    return change


disable_user = post("/admin/users/{user_id:uuid}/disable", include_in_schema=False, name="accounts:disable")(
    _set_active(False))
enable_user = post("/admin/users/{user_id:uuid}/enable", include_in_schema=False, name="accounts:enable")(
    _set_active(True))


@post("/admin/users/{user_id:uuid}/reset", include_in_schema=False)
async def reset_user(request: Request, user_id: FromPath[UUID]) -> Response[str]:
    p = _office(request)
    state = request.app.state

    def work() -> Response[str]:
        with state.db.transaction(actor=p) as session:
            user = accounts.get_user(session, user_id)
            token = setup_links.issue(session, p, user, state.clock(), reset=True)
            out = accounts.user_out(user)
        return _link_page(request, out, setup_links.setup_url(base_url_of(request), token), created=False)

    return await _in_thread(work)


@post("/admin/users/second-factor", include_in_schema=False)
async def second_factor_setting(request: Request) -> Response[Any]:
    p = _office(request)
    form = await _posted(request)
    required = form.get("require_totp") in ("1", "on", "true")
    db = request.app.state.db

    def work() -> None:
        with db.transaction(actor=p) as session:
            accounts.set_require_totp(session, p, required)

    await _in_thread(work)
    return redirect(request, "/admin/users")


ACCOUNT_OFFICE_HANDLERS = [users_page, new_user_page, create_user_page, edit_user_page, update_user_page, disable_user,
                           enable_user, reset_user, second_factor_setting]
