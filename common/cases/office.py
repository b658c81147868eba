"""The office's own work on cases, mounted by the hub alone: the routing table's changes, and the leader's queue of
joint working groups waiting for a decision."""
from __future__ import annotations

from typing import Any

import anyio
from litestar import Request, Response, get, post
from sqlalchemy import select

from common.errors import InvalidField
from common.models import Case, Enterprise
from common.cases import lifecycle
from common.cases import service as cases
from common.cases.vocabulary import OPEN, JointGroup, K
from common.web.templating import render
from common.reference import CATEGORIES
from common.cases import rules as case_rules
from common.web.auth import require_office_principal
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


CASE_OFFICE_HANDLERS = [save_routing, joint_group_queue]
