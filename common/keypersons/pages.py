"""Pages of the key-person register, mounted by the hub alone; other roles get 404 on every one of them."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.types import ControllerRouterHandler

from common.api.deps import OffsetQ
from common.errors import InvalidField
from common.i18n import N_, gettext
from common.keypersons import service as keypersons
from common.models import Enterprise, Unit
from common.roster import reveal as reveal_rules
from common.visits.forms import error_map
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render

PAGE = 30
FIELDS = ("name", "id_number", "phone", "enterprise_id", "control_level", "responsible_unit", "notes")


def _units(state: Any) -> list[Any]:
    with state.db.reads() as session:
        return session.execute(Unit.__table__.select().with_only_columns(Unit.id, Unit.name).order_by(Unit.id)).all()


@get("/key-persons", include_in_schema=False, name="key-persons:list")
async def list_page(request: Request, q: FromQuery[str | None] = None, control_level: FromQuery[str | None] = None,
                    offset: OffsetQ = 0) -> Response[str]:
    p = require_principal(request)
    keypersons.require_police(p)
    state = request.app.state

    def read() -> dict[str, Any]:
        with state.db.reads() as session:
            rows = session.scalars(keypersons.search(p, q or "", control_level or "").limit(PAGE + 1).offset(offset)).all()
        return {"rows": [keypersons.out(r) for r in rows[:PAGE]], "has_more": len(rows) > PAGE}

    context = await anyio.to_thread.run_sync(read)
    return render(request, "keypersons/list.html", {**context, "offset": offset, "page_size": PAGE,
                                                    "filters": {"q": q or "", "control_level": control_level or ""},
                                                    "levels": keypersons.CONTROL_LEVELS})


@get("/key-persons/new", include_in_schema=False)
async def new_page(request: Request) -> Response[str]:
    p = require_principal(request)
    keypersons.require_police(p)
    units = await anyio.to_thread.run_sync(_units, request.app.state)
    values = {name: "" for name in FIELDS} | {"control_level": "general", "responsible_unit": p.unit_id or ""}
    return render(request, "keypersons/new.html", {"values": values, "errors": {}, "units": units,
                                                   "levels": keypersons.CONTROL_LEVELS, "editing": None})


@post("/key-persons/new", include_in_schema=False)
async def create_page(request: Request) -> Response[Any]:
    p = require_principal(request)
    keypersons.require_police(p)
    form = await request.form()
    data = {name: str(form.get(name) or "") for name in FIELDS}
    state = request.app.state

    def save() -> Any:
        with state.db.transaction(actor=p) as session:
            return keypersons.create(session, p, data).id

    try:
        row_id = await anyio.to_thread.run_sync(save)
    except InvalidField as exc:
        units = await anyio.to_thread.run_sync(_units, state)
        return render(request, "keypersons/new.html", {"values": data, "errors": error_map(exc), "units": units,
                                                       "levels": keypersons.CONTROL_LEVELS, "editing": None},
                      status=422)
    return redirect(request, f"/key-persons/{row_id}")


def _edit_values(state: Any, p: Any, key_person_id: UUID) -> dict[str, Any]:
    """The form's values: the numbers left empty (kept unless a new one is typed), never shown in full here. A read of
    the record like its page, recorded."""
    with state.db.transaction(actor=p) as session:
        row = keypersons.view(session, p, key_person_id)
        return {"name": row.name, "id_number": "", "phone": "", "enterprise_id": str(row.enterprise_id or ""),
                "control_level": row.control_level, "responsible_unit": row.responsible_unit or "", "notes": row.notes}


@get("/key-persons/{key_person_id:uuid}/edit", include_in_schema=False)
async def edit_page(request: Request, key_person_id: FromPath[UUID]) -> Response[str]:
    p = require_principal(request)
    keypersons.require_police(p)
    values = await anyio.to_thread.run_sync(_edit_values, request.app.state, p, key_person_id)
    units = await anyio.to_thread.run_sync(_units, request.app.state)
    return render(request, "keypersons/new.html", {"values": values, "errors": {}, "units": units,
                                                   "levels": keypersons.CONTROL_LEVELS, "editing": key_person_id})


@post("/key-persons/{key_person_id:uuid}/edit", include_in_schema=False)
async def save_edit_page(request: Request, key_person_id: FromPath[UUID]) -> Response[Any]:
    p = require_principal(request)
    keypersons.require_police(p)
    form = await request.form()
    # An empty ID number or phone keeps the one on record.
    data = {name: str(form.get(name) or "") for name in FIELDS
            if name not in ("id_number", "phone") or str(form.get(name) or "").strip()}
    state = request.app.state

    def save() -> None:
        with state.db.transaction(actor=p) as session:
            keypersons.update(session, p, key_person_id, data)

    try:
        await anyio.to_thread.run_sync(save)
    except InvalidField as exc:
        units = await anyio.to_thread.run_sync(_units, state)
        return render(request, "keypersons/new.html", {"values": {"id_number": "", "phone": "", **data},
                                                       "errors": error_map(exc), "units": units,
                                                       "levels": keypersons.CONTROL_LEVELS, "editing": key_person_id},
                      status=422)
    return redirect(request, f"/key-persons/{key_person_id}")


def _detail(state: Any, p: Any, key_person_id: UUID) -> dict[str, Any]:
    with state.db.transaction(actor=p) as session:
        row = keypersons.view(session, p, key_person_id)
        enterprise = session.get(Enterprise, row.enterprise_id) if row.enterprise_id else None
        unit = session.get(Unit, row.responsible_unit) if row.responsible_unit else None
        return {"person": keypersons.out(row, keypersons.follow_ups(session, row.id)),
                "enterprise_name": enterprise.name if enterprise else "", "unit_name": unit.name if unit else ""}


@get("/key-persons/{key_person_id:uuid}", include_in_schema=False)
async def detail_page(request: Request, key_person_id: FromPath[UUID]) -> Response[str]:
    p = require_principal(request)
    keypersons.require_police(p)
    context = await anyio.to_thread.run_sync(_detail, request.app.state, p, key_person_id)
    response = render(request, "keypersons/detail.html", {**context, "levels": keypersons.CONTROL_LEVELS, "errors": {}})
    response.headers["Cache-Control"] = "no-store"
    return response


@post("/key-persons/{key_person_id:uuid}", include_in_schema=False)
async def follow_up_page(request: Request, key_person_id: FromPath[UUID]) -> Response[Any]:
    p = require_principal(request)
    keypersons.require_police(p)
    form = await request.form()
    state = request.app.state

    def save() -> None:
        with state.db.transaction(actor=p) as session:
            keypersons.add_follow_up(session, p, key_person_id, {"text": form.get("text"), "day": form.get("day")})

    try:
        await anyio.to_thread.run_sync(save)
    except InvalidField as exc:
        context = await anyio.to_thread.run_sync(_detail, state, p, key_person_id)
        return render(request, "keypersons/detail.html", {**context, "levels": keypersons.CONTROL_LEVELS,
                                                          "errors": error_map(exc)}, status=422)
    return redirect(request, f"/key-persons/{key_person_id}#follow-ups")


def _target(state: Any, p: Any, key_person_id: UUID) -> dict[str, Any]:
    with state.db.reads() as session:
        masked = keypersons.out(keypersons.get_visible(session, p, key_person_id))
    return {"kind": "key_person", "name": masked["name"], "back": f"/key-persons/{key_person_id}",
            "back_label": masked["name"], "fields": {"id_number": masked["id_number"], "phone": masked["phone"]}}


@get("/key-persons/{key_person_id:uuid}/reveal", include_in_schema=False)
async def reveal_form(request: Request, key_person_id: FromPath[UUID]) -> Response[str]:
    p = require_principal(request)
    keypersons.require_police(p)
    target = await anyio.to_thread.run_sync(_target, request.app.state, p, key_person_id)
    return render(request, "roster/reveal.html", {"target": target, "values": {}, "errors": {}, "shown": None})


@post("/key-persons/{key_person_id:uuid}/reveal", include_in_schema=False)
async def reveal_page(request: Request, key_person_id: FromPath[UUID]) -> Response[str]:
    p = require_principal(request)
    keypersons.require_police(p)
    form = dict(await request.form())
    state = request.app.state
    shown, errors, status = None, {}, 200
    try:
        reason = reveal_rules.check_request(p, form)
        await anyio.to_thread.run_sync(lambda: reveal_rules.count_look(state.db, p, state.clock(), state.settings.node_id))

        def work() -> dict[str, Any]:
            with state.db.transaction(actor=p) as session:
                return keypersons.reveal(session, p, key_person_id, reason)

        shown = await anyio.to_thread.run_sync(work)
    except InvalidField as exc:
        errors, status = error_map(exc), 422
    except reveal_rules.RevealLimited:
        errors, status = {"reason": gettext(N_("Too many looks at personal data in a short time. Try again later."))}, 429
    target = await anyio.to_thread.run_sync(_target, state, p, key_person_id)
    response = render(request, "roster/reveal.html", {"target": target, "values": form, "errors": errors,
                                                      "shown": shown}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


KEY_PERSON_PAGE_HANDLERS: list[ControllerRouterHandler] = [
    list_page, new_page, create_page, edit_page, save_edit_page, detail_page, follow_up_page, reveal_form, reveal_page]
