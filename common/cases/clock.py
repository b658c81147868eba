"""Timers of a case worked out from its timeline: intake, each unit's sign-for and report back, emergency progress.

Pure: takes the case's urgency, creation time, status and events with their times, and a `now`; a timer is
overdue once its deadline has passed with the step not done. Nothing is stored, so every node shows the same.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.cases.vocabulary import OPEN, Status
from common.cases.vocabulary import EventKind as K
from common.cases.rules import deadlines_for
from common.cases.deadlines import parse_time

# Kinds that count as a progress report while the emergency plan runs.
PROGRESS_KINDS = frozenset({K.COMMENT, K.SIGNED, K.REPORTED})
WAITING_INTAKE = frozenset({Status.SUBMITTED, Status.REOPENED})


@dataclass(frozen=True)
class Timer:
    """One deadline: `done_at` when the step was taken; `late` when it was (or still is) past `due`."""

    due: datetime
    done_at: datetime | None
    now: datetime

    @property
    def overdue(self) -> bool:
        """Still to do and past its deadline: the case page and the queue raise it."""
        return self.done_at is None and self.now > self.due

    @property
    def late(self) -> bool:
        return self.overdue or (self.done_at is not None and self.done_at > self.due)

    @property
    def state(self) -> str:
        if self.done_at is not None:
            return "late" if self.late else "done"
        return "overdue" if self.overdue else "pending"


@dataclass(frozen=True)
class UnitClock:
    unit: str
    dispatched_at: datetime
    sign: Timer
    resolve: Timer
    basis: str = "clock"  # "workdays" for a routine case's deadlines, as the dispatch worked them out
    extended: bool = False  # the report-back deadline was moved by an approved extension


@dataclass(frozen=True)
class CaseClock:
    intake: Timer | None
    units: tuple[UnitClock, ...]
    progress: Timer | None

    def pending(self) -> list[Timer]:
        timers = [self.intake, self.progress, *(u.sign for u in self.units), *(u.resolve for u in self.units)]
        return [t for t in timers if t is not None and t.done_at is None]

    @property
    def overdue(self) -> bool:
        return any(t.overdue for t in self.pending())

    @property
    def next_due(self) -> datetime | None:
        return min((t.due for t in self.pending()), default=None)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def case_clock(urgency: str, created_at: datetime, status: str, events: Iterable[Any], active_units: Iterable[str],
               now: datetime) -> CaseClock:
    """The timers of an open case (none once it is filed, closed or transferred).

    `events` are rows with `kind`, `unit` and `at`, in timeline order; `active_units` the units now on the case.
    """
    limits = deadlines_for(urgency)
    now = _aware(now)
    events = [e for e in events]
    open_case = status in OPEN or status in WAITING_INTAKE
    if not open_case:
        return CaseClock(None, (), None)
    intake_from = _aware(created_at)
    accepted_at = None
    for e in events:
        if e.kind == K.REOPENED:
            intake_from, accepted_at = _aware(e.at), None
        elif e.kind == K.ACCEPTED:
            accepted_at = _aware(e.at)
    intake = Timer(intake_from + limits.sign, accepted_at, now)
    active = set(active_units)
    units = tuple(_unit_clock(unit, events, limits, now) for unit in _in_dispatch_order(events, active))
    return CaseClock(intake, tuple(u for u in units if u is not None), _progress(events, limits.progress, now))


def _in_dispatch_order(events: list[Any], active: set[str]) -> list[str]:
    order: list[str] = []
    for e in events:
        if e.kind == K.DISPATCHED and e.unit in active:
            if e.unit in order:
                order.remove(e.unit)
            order.append(e.unit)
    return order


def unit_clock(unit: str, urgency: str, events: Iterable[Any], now: datetime) -> UnitClock | None:
    """One unit's timers from the case's events (None if it was never dispatched)."""
    return _unit_clock(unit, list(events), deadlines_for(urgency), _aware(now))


def _unit_clock(unit: str, events: list[Any], limits: Any, now: datetime) -> UnitClock | None:
    """The unit's latest dispatch starts its clocks; its sign-for and report back after that stop them.

    The deadlines are those the dispatch kept in its details when it was written (the settings of that time); an
    approved extension moves the report back to its `until`. Events written before deadlines were kept fall back
    to the constants of the urgency."""
    dispatched_at = signed_at = reported_at = sign_due = resolve_due = None
    basis, extended = "clock", False
    for e in events:
        if e.unit != unit:
            continue
        details = getattr(e, "details", None) or {}
        if e.kind == K.DISPATCHED:
            dispatched_at, signed_at, reported_at, extended = _aware(e.at), None, None, False
            sign_due = parse_time(details.get("sign_by")) or dispatched_at + limits.sign
            resolve_due = parse_time(details.get("report_by")) or dispatched_at + limits.resolve
            basis = details.get("basis") or "clock"
        elif e.kind == K.SIGNED and dispatched_at is not None:
            signed_at = _aware(e.at)
        elif e.kind == K.REPORTED and dispatched_at is not None:
            reported_at = _aware(e.at)
        elif e.kind == K.EXTENSION_APPROVED and dispatched_at is not None:
            until = parse_time(details.get("until"))
            if until is not None:
                resolve_due, extended = until, True
    if dispatched_at is None or sign_due is None or resolve_due is None:
        return None
    return UnitClock(unit, dispatched_at, Timer(sign_due, signed_at, now), Timer(resolve_due, reported_at, now),
                     basis, extended)


def _progress(events: list[Any], every: Any, now: datetime) -> Timer | None:
    """Under the emergency plan a progress report is owed every `every` since the plan started or the last report."""
    started = None
    last = None
    for e in events:
        if e.kind == K.ESCALATED and started is None:
            started = last = _aware(e.at)
        elif started is not None and e.kind in PROGRESS_KINDS:
            last = _aware(e.at)
    if last is None:
        return None
    return Timer(last + every, None, now)
