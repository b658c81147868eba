"""The office's own work on cases, mounted by the hub alone: the routing table's changes, the leader's queue of
joint working groups waiting for a decision, and the deadlines (`/admin/deadlines`): a change of them applies to the
units dispatched after it; every running deadline stays as its dispatch fixed it."""
from __future__ import annotations

from typing import Any

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromQuery
from sqlalchemy import select

from common.errors import InvalidField
from common.models import Case, Enterprise
from common.cases import lifecycle
from common.cases import service as cases
from common.cases.vocabulary import OPEN, JointGroup, K
from common.web.templating import render
from common.reference import CATEGORIES, URGENCIES
from common.cases import rules as case_rules
from common.web.auth import require_office_principal
from common.cases import deadlines
from common.cases.pages import routing_page_response
from common.cases.views import error_messages
from common.center import settings
from common.web.htmx import redirect


@post("/cases/routing", include_in_schema=False, name="cases:routing-save")
async def save_routing(request: Request) -> Response[Any]:
    p = require_office_principal(request)
    form = await request.form()
    table = {category: {"lead": form.get(f"{category}.lead") or "", "co": form.getall(f"{category}.co", [])}
             for category in CATEGORIES}

    def work() -> None:
        with request.app.state.db.transaction(actor=p) as session:
            settings.put(session, p, case_rules.ROUTING_KEY, table)

    try:
        await anyio.to_thread.run_sync(work)
    except InvalidField as exc:
        errors = error_messages(exc)
        return await anyio.to_thread.run_sync(lambda: routing_page_response(request, table, errors, False, status=422))
    return redirect(request, "/cases/routing?saved=1")


def pending_joint_groups(session: Any) -> list[dict[str, Any]]:
    """The cases whose joint working group awaits a leader's decision, the longest waiting first, each with the
    office's request (why, who, when). Only cases under the emergency plan can have one: those are few."""
    rows = session.execute(select(Case, Enterprise.name).outerjoin(Enterprise, Enterprise.id == Case.enterprise_id)
                           .where(Case.emergency.is_(True), Case.status.in_([s.value for s in OPEN]),
                                  Case.deleted_at.is_(None))).all()
    waiting = []
    for case, enterprise_name in rows:
        events = cases.timeline(session, case.id)
        state = lifecycle.fold(cases.as_record(e) for e in events)  # the timeline read once, for both
        if state.jwg != JointGroup.REQUESTED:
            continue
        asked = next(e for e in reversed(events) if e.kind == K.JWG_REQUESTED)
        waiting.append({"case": case, "enterprise": enterprise_name, "request": asked})
    return sorted(waiting, key=lambda row: row["request"].at)


@get("/cases/jwg", include_in_schema=False, name="cases:jwg-queue")
async def joint_group_queue(request: Request) -> Response[str]:
    """The leader's queue: each request with approve and reject (a reason required), the office's view of it too."""
    p = require_office_principal(request)

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            waiting = pending_joint_groups(session)
        return render(request, "cases/jwg.html", {"waiting": waiting, "decides": p.leader,
                                                  "done": request.query_params.get("done") or ""})

    return await anyio.to_thread.run_sync(work)


# ── Deadlines ──────────────────────────────────────────────────────────────────────────────────────────────────

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


CASE_OFFICE_HANDLERS = [save_routing, joint_group_queue, deadlines_page, save_deadlines]
