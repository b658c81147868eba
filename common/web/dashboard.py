"""What the home page shows each role: the sub-center head's visit plan and open cases; links for the others."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from common.models import Enterprise
from common.policy import Principal
from common.services import settings, visit_plan
from common.visit_reference import CADENCE_KEY

PLAN_ON_HOME = 10
CASES_ON_HOME = 10


def dashboard_context(session: Any, p: Principal) -> dict[str, Any]:
    """The sub-center's section is filled here; other roles' sections are placeholders other pages will extend."""
    if p.role != "subcenter":
        return {"section": p.role}
    due, due_total = visit_plan.overdue(session, p, limit=PLAN_ON_HOME)
    cases, cases_total = visit_plan.open_cases(session, p, limit=CASES_ON_HOME)
    enterprise_ids = {c.enterprise_id for c in cases if c.enterprise_id}
    names = dict(session.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(enterprise_ids))).all()) \
        if enterprise_ids else {}
    return {"section": "subcenter", "due": due, "due_total": due_total, "cadence": settings.get(session, CADENCE_KEY),
            "cases": cases, "cases_total": cases_total, "case_enterprises": names}
