"""Which enterprises are due a visit: the last visit against the cadence of their risk level (Art. 13, 17(6))."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, null, or_, select, true
from sqlalchemy.orm import Session

from common import policy
from common.models import Case, Enterprise, LastVisit, utcnow
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


def _levels(cadence: dict[str, int], now: datetime) -> list[tuple[Any, datetime]]:
    """Each risk level in the plan's order (any other level last) with the moment before which its last visit is too
    old: the cadence of the level, the longest for a level the cadence does not name."""
    longest = max(cadence.values())
    levels: list[tuple[Any, datetime]] = [(LastVisit.risk_level == level, now - timedelta(days=cadence.get(level, longest)))
                                          for level in RISK_ORDER]
    levels.append((_other_levels(), now - timedelta(days=longest)))
    return levels


def _other_levels() -> Any:
    """Any risk level but the known ones (none, unless a row came in with one): the stretches of the index between
    them, which an index reads at once where NOT IN would read the whole of it."""
    known = sorted(RISK_ORDER)
    level = LastVisit.risk_level
    return or_(level < known[0], *(and_(level > a, level < b) for a, b in zip(known, known[1:])), level > known[-1])


def overdue(session: Session, p: Principal, limit: int = 20, now: datetime | None = None) -> tuple[list[DueVisit], int]:
    """The enterprises in `p`'s scope due a visit, riskiest and longest-waiting first, and how many there are.

    Read from `last_visit` (revision 0026), whose index holds each risk level's enterprises never visited first (by
    name), then by last visit: each level's never visited and overdue are one index range, the list those ranges
    read in turn until the page is full, the count their index entries. Someone who sees no visits (a liaison) sees
    every enterprise as never visited.
    """
    now = now or utcnow()
    cadence = settings.get(session, CADENCE_KEY)
    scope = policy.visible(LastVisit, p)
    visits_seen = policy.sees_visits(p)
    last = LastVisit.visited_at if visits_seen else null()
    order = (LastVisit.visited_at, LastVisit.name) if visits_seen else (LastVisit.name,)
    ranges = [and_(level, waiting) for level, before in _levels(cadence, now)
              for waiting in ((LastVisit.visited_at.is_(None), LastVisit.visited_at < before) if visits_seen else (true(),))]
    counts = [select(func.count()).select_from(LastVisit).where(scope, r).scalar_subquery() for r in ranges]
    total = session.scalar(select(sum(counts[1:], counts[0]))) or 0
    rows: list[Any] = []
    for waiting in ranges:
        if len(rows) >= limit:
            break
        stmt = (select(Enterprise, last).join(LastVisit, LastVisit.enterprise_id == Enterprise.id)
                .where(scope, waiting, policy.visible(Enterprise, p))
                .order_by(*order).limit(limit - len(rows)))
        rows += session.execute(stmt).all()
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
