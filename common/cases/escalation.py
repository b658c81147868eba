"""The hub's escalation job (Art. 18, 19: 催办 and 督办), run every minute by the scheduler.

For each open dispatch — a unit active on an open case that has not signed for it or not reported back — and each of
its deadlines (common/cases/deadlines.py `steps`):
  before it, a reminder to the unit's liaison officers (a notice only, nothing on the timeline);
  once it has passed, an `urged` event (the system, at the hub) told to the unit and the office;
  later still (a further half of the time allowed on the clock, one working day for routine), a `supervised` event
  with a formal notice to the unit's leadership and the office.
Each step happens once per dispatch and deadline: the events carry the deadline they are about (`details.deadline`,
`details.due`), so a run at the same time again finds nothing to do, and an approved extension, which gives a new
deadline, has steps of its own.

Only dispatches with something due are read: each `CaseUnit` keeps when the job next has work for it (`next_check`,
set from the timeline when its deadlines change, moved on by the job), behind a partial index of the open ones.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.cases import clock as case_clock
from common.cases.deadlines import REMIND, SUPERVISE, URGE, Calendar, aware, current, owed, parse_time, steps
from common.cases.vocabulary import OPEN
from common.cases.vocabulary import EventKind as K
from common.errors import Conflict, Forbidden
from common.models import Case, CaseEvent, CaseUnit

# How many dispatches one run takes on; the rest wait for the next minute (a backlog after downtime).
BATCH = 5000
# A dispatch whose steps failed (logged) is looked at again after this, not at every minute.
RETRY_AFTER = timedelta(minutes=15)
log = logging.getLogger(__name__)


def run(db: Any, settings: Any, now: datetime) -> dict[str, int]:
    """One run as if at `now`: what it did ({"checked", "reminded", "urged", "supervised"})."""
    now = aware(now).astimezone(UTC)
    done = {"checked": 0, "reminded": 0, "urged": 0, "supervised": 0}
    with db.transaction() as session:
        calendar = Calendar.of(current(session))
        rows = session.execute(
            select(CaseUnit, Case).join(Case, Case.id == CaseUnit.case_id)
            .where(CaseUnit.next_check.is_not(None), CaseUnit.next_check <= now)
            .order_by(CaseUnit.next_check).limit(BATCH)).all()
        for row, case in rows:
            done["checked"] += 1
            try:
                with session.begin_nested():
                    for step, count in _escalate(session, case, row, calendar, now).items():
                        done[step] += count
            except Exception:  # noqa: BLE001 - one case's fault must not hold every other dispatch back
                log.exception("escalation of case %s, unit %s failed", case.id, row.unit_id)
                done["failed"] = done.get("failed", 0) + 1
                row.next_check = now + RETRY_AFTER
    return done


def _escalate(session: Session, case: Case, row: CaseUnit, calendar: Calendar, now: datetime) -> dict[str, int]:
    """Take the steps of one dispatch that are due at `now` and not taken yet; set when it is next looked at."""
    from common.cases import notices
    from common.cases import service as cases

    did = {"reminded": 0, "urged": 0, "supervised": 0}
    if case.deleted_at is not None or case.status not in OPEN or not row.active or (row.signed and row.reported):
        row.next_check = None
        return did
    events = cases.timeline(session, case.id)
    clock = case_clock.unit_clock(row.unit_id, case.urgency, events, now)
    if clock is None:
        row.next_check = None
        return did
    taken = {(e.kind, (e.details or {}).get("deadline"), _stamp((e.details or {}).get("due")))
             for e in events if e.unit == row.unit_id and e.kind in (K.URGED, K.SUPERVISED)}
    later: list[datetime] = []
    for which, timer in owed(clock, row.signed, row.reported).items():
        schedule = steps(clock.basis, clock.dispatched_at, timer.due, calendar)
        due_now = [step for step, when in schedule if when <= now]
        later += [when for _, when in schedule if when > now]
        if due_now == [REMIND]:
            notices.remind(session, case, row.unit_id, which, timer.due)
            did["reminded"] += 1
            continue
        for step in (URGE, SUPERVISE):
            if step in due_now and (step, which, _stamp(timer.due)) not in taken:
                try:
                    event = cases.record_event(session, cases.SYSTEM, case, {"kind": step, "unit": row.unit_id},
                                               details={"deadline": which, "due": timer.due.isoformat()}, at=now,
                                               events=events)
                except (Conflict, Forbidden):
                    continue  # the state refuses it (checked before anything is written): nothing to do
                events = [*events, event]
                did[step] += 1
    row.next_check = min(later, default=None)
    return did


def _stamp(value: Any) -> str | None:
    moment = parse_time(value) if not isinstance(value, datetime) else aware(value)
    return moment.astimezone(UTC).isoformat() if moment is not None else None


# ── The quarterly figures ──────────────────────────────────────────────────────────────────────────────────────

def counts_by_unit(session: Session, since: datetime, until: datetime) -> dict[str, dict[str, int]]:
    """催办 and 督办 per unit from `since` to before `until` (the quarterly figures count them per unit)."""
    out: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(CaseEvent.unit, CaseEvent.kind, func.count()).where(
            CaseEvent.kind.in_([K.URGED.value, K.SUPERVISED.value]), CaseEvent.deleted_at.is_(None),
            CaseEvent.at >= since, CaseEvent.at < until, CaseEvent.unit.is_not(None))
        .group_by(CaseEvent.unit, CaseEvent.kind))
    for unit, kind, count in rows:
        out.setdefault(unit, {"urged": 0, "supervised": 0})[kind] = int(count)
    return out
