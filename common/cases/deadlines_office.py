"""The office's deadlines, mounted by the hub alone: `/admin/deadlines` and `GET/PUT /api/v1/settings/deadlines`.
A change applies to the units dispatched after it; every running deadline stays as its dispatch fixed it."""
from __future__ import annotations

from typing import Any

import anyio
from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromQuery, JSONBody

from common import policy
from common.api.deps import Caller
from common.cases import deadlines
from common.cases.views import error_messages
from common.center import settings
from common.errors import InvalidField
from common.reference import CATEGORIES, URGENCIES
from common.web.auth import require_office_principal
from common.web.htmx import redirect
from common.web.templating import render


def deadlines_from_form(form: Any) -> dict[str, Any]:
    """The settings' shape from the page's fields: `urgency.<u>.sign`, `categories.<c>.<u>.report`, `holidays`."""
    def value(name: str) -> str:
        return str(form.get(name) or "").strip()

    out: dict[str, Any] = {"urgency": {}, "categories": {}, "holidays": value("holidays"), "workdays": value("workdays")}
    for urgency in URGENCIES:
        out["urgency"][urgency] = {step: value(f"urgency.{urgency}.{step}") for step in ("sign", "report")}
        for category in CATEGORIES:
            pair = {step: value(f"categories.{category}.{urgency}.{step}") for step in ("sign", "report")}
            if any(pair.values()):
                out["categories"].setdefault(category, {})[urgency] = pair
    return out


def _page(request: Request, table: dict[str, Any], errors: dict[str, str], saved: bool, status: int = 200) -> Response[str]:
    units = {u: deadlines.unit_of(u) for u in URGENCIES}
    holidays = table.get("holidays")
    workdays = table.get("workdays")
    return render(request, "cases/deadlines.html", {
        "table": table, "errors": errors, "saved": saved, "urgencies": URGENCIES, "categories": CATEGORIES,
        "units_of": units,
        "holidays_text": "\n".join(holidays) if isinstance(holidays, list) else holidays or "",
        "workdays_text": "\n".join(workdays) if isinstance(workdays, list) else workdays or "",
    }, status=status)


@get("/admin/deadlines", include_in_schema=False, name="admin:deadlines")
async def deadlines_page(request: Request, saved: FromQuery[str | None] = None) -> Response[str]:
    require_office_principal(request)

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            table = deadlines.current(session)
        return _page(request, table, {}, bool(saved))

    return await anyio.to_thread.run_sync(work)


@post("/admin/deadlines", include_in_schema=False, name="admin:deadlines-save")
async def save_deadlines(request: Request) -> Response[Any]:
    p = require_office_principal(request)
    form = await request.form()
    table = deadlines_from_form(form)

    def work() -> None:
        with request.app.state.db.transaction(actor=p) as session:
            settings.put(session, p, deadlines.DEADLINES_KEY, table)

    try:
        await anyio.to_thread.run_sync(work)
    except InvalidField as exc:
        errors = error_messages(exc)
        return await anyio.to_thread.run_sync(lambda: _page(request, table, errors, False, status=422))
    return redirect(request, "/admin/deadlines?saved=1")


class DeadlinesController(Controller):
    path = "/api/v1/settings/deadlines"
    tags = ["settings"]

    @get("/", sync_to_thread=True, summary="Sign-for and report-back deadlines, and the working-day calendar (office)")
    def read(self, request: Request, principal: Caller) -> dict[str, Any]:
        policy.require_office(principal)
        with request.app.state.db.reads() as session:
            return deadlines.current(session)

    @put("/", sync_to_thread=True, summary="Change the deadlines; new dispatches follow them (office)")
    def change(self, request: Request, principal: Caller, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        policy.require_office(principal)
        with request.app.state.db.transaction(actor=principal) as session:
            return settings.put(session, principal, deadlines.DEADLINES_KEY, data)


DEADLINE_PAGE_HANDLERS = [deadlines_page, save_deadlines]
DEADLINE_API_HANDLERS = [DeadlinesController]
