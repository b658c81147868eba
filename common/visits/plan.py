"""Which enterprises are due a visit: the last visit against the cadence of their risk level (Art. 13, 17(6))."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from common import policy
from common.models import Case, Enterprise, Visit, utcnow
from common.policy import Principal
from common.center import settings
from common.visits.reference import CADENCE_KEY

# A case is open until it is filed, closed after its callback, or handed to the police where it happened.
SETTLED_CASE_STATUSES = ("filed", "closed", "transferred")
RISK_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class DueVisit:
    """One enterprise of the plan: when it was last visited and how many days it is overdue."""

    enterprise: Enterprise
    last_visit: datetime | None
    cadence_days: int
    overdue_days: int | None  # None: never visited


def _last_visits(p: Principal) -> Any:
    """Per enterprise, its most recent visit that `p` may see."""
    return (select(Visit.enterprise_id, func.max(Visit.visited_at).label("last"))
            .where(policy.visible(Visit, p)).group_by(Visit.enterprise_id).subquery())


def _due_condition(last: Any, cadence: dict[str, int], now: datetime) -> Any:
    """Never visited, or the last visit older than the cadence of the enterprise's risk level."""
    longest = max(cadence.values())
    per_level = [and_(Enterprise.risk_level == level, last < now - timedelta(days=days)) for level, days in cadence.items()]
    other = and_(Enterprise.risk_level.not_in(list(cadence)), last < now - timedelta(days=longest))
    return or_(last.is_(None), *per_level, other)


def overdue(session: Session, p: Principal, limit: int = 20, now: datetime | None = None) -> tuple[list[DueVisit], int]:
    """The enterprises in `p`'s scope due a visit, riskiest and longest-waiting first, and how many there are."""
    now = now or utcnow()
    cadence = settings.get(session, CADENCE_KEY)
    last_visits = _last_visits(p)
    last = last_visits.c.last
    where = _due_condition(last, cadence, now)
    base = policy.scoped(Enterprise, p).outerjoin(last_visits, last_visits.c.enterprise_id == Enterprise.id).where(where)
    total = session.scalar(select(func.count()).select_from(base.with_only_columns(Enterprise.id).subquery())) or 0
    risk_rank = case(RISK_ORDER, value=Enterprise.risk_level, else_=len(RISK_ORDER))
    rows = session.execute(base.add_columns(last).order_by(risk_rank, last.is_(None).desc(), last.asc(), Enterprise.name)
                           .limit(limit)).all()
    return [_due(row[0], row[1], cadence, now) for row in rows], total


def _due(enterprise: Enterprise, last: datetime | None, cadence: dict[str, int], now: datetime) -> DueVisit:
    days = cadence.get(enterprise.risk_level, max(cadence.values()))
    if last is None:
        return DueVisit(enterprise, None, days, None)
    if last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    return DueVisit(enterprise, last, days, max(0, (now - last).days - days))


def open_cases(session: Session, p: Principal, limit: int = 10) -> tuple[list[Case], int]:
    """Cases of `p`'s scope still being handled, newest first, and how many there are."""
    stmt = policy.scoped(Case, p).where(Case.status.not_in(SETTLED_CASE_STATUSES))
    total = session.scalar(select(func.count()).select_from(stmt.with_only_columns(Case.id).subquery())) or 0
    rows = session.scalars(stmt.order_by(Case.created_at.desc(), Case.id.desc()).limit(limit)).all()
    return list(rows), total
