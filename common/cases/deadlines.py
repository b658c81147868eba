"""Deadlines as the office keeps them (Art. 18): how long a unit has to sign for (签收) and to report back at each
urgency, per category where it differs, and the calendar of working days that routine cases count.

Routine deadlines count working days: N working days after the day of the dispatch, to the end of that day (24:00
Beijing time); weekends and holidays are skipped, a working weekend (调休) counts. Urgent, major and mass-incident
deadlines run on the clock, in hours. The deadlines that apply are worked out when a unit is dispatched and kept
on the dispatch event (`sign_by`, `report_by`), so a later change of the settings moves no running deadline.

The escalation steps of one deadline (common/cases/escalation.py) are worked out here too:
  clock deadline  — a reminder 2 h before (half the time allowed when that is shorter), 催办 at the deadline,
                    督办 once a further half of the time allowed has passed;
  routine         — a reminder at 09:00 on the last working day, 催办 at the deadline, 督办 one working day later.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from common.errors import InvalidField
from common.i18n import N_
from common.reference import CATEGORIES, URGENCIES
from common.service import Problems

BEIJING = ZoneInfo("Asia/Shanghai")
DEADLINES_KEY = "deadlines"
WORKDAYS, CLOCK = "workdays", "clock"
# Routine counts working days; the others hours.
WORKDAY_URGENCIES = frozenset({"routine"})
REMIND_BEFORE = timedelta(hours=2)
REMIND_AT = time(9, 0)  # the morning of the last working day, Beijing time
MAX_WORKDAYS = 120
MAX_HOURS = 24 * 60

# Today's constants (common/cases/rules.py DEADLINES) in the settings' units.
DEFAULT_DEADLINES: dict[str, Any] = {
    "urgency": {
        "routine": {"sign": 1, "report": 15},      # working days
        "urgent": {"sign": 2, "report": 72},       # hours
        "major": {"sign": 1, "report": 48},
        "mass_incident": {"sign": 0.5, "report": 24},
    },
    "categories": {},   # category -> urgency -> {"sign", "report"}, where a category differs
    "holidays": [],     # dates off that would be working days
    "workdays": [],     # weekend dates worked (调休)
}

MSG_NUMBER = N_("Enter a number greater than 0")
MSG_WORKDAYS = N_("Enter a whole number of working days from 1 to {max}")
MSG_HOURS = N_("Enter a number of hours greater than 0 and at most {max}")
MSG_DATES = N_("Enter dates as YYYY-MM-DD, one a line")


def unit_of(urgency: str) -> str:
    return WORKDAYS if urgency in WORKDAY_URGENCIES else CLOCK


def _amount(problems: Problems, where: str, urgency: str, value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        problems.add(where, MSG_NUMBER)
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        problems.add(where, MSG_NUMBER)
        return None
    if unit_of(urgency) == WORKDAYS:
        if number != int(number) or not 1 <= number <= MAX_WORKDAYS:
            problems.add(where, MSG_WORKDAYS, max=MAX_WORKDAYS)
            return None
        return int(number)
    if not 0 < number <= MAX_HOURS:
        problems.add(where, MSG_HOURS, max=MAX_HOURS)
        return None
    return int(number) if number == int(number) else round(number, 2)


def _pair(problems: Problems, where: str, urgency: str, entry: Any) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        problems.add(where, N_("Not one of the allowed values"))
        return None
    out = {}
    for step in ("sign", "report"):
        out[step] = _amount(problems, f"{where}.{step}", urgency, entry.get(step))
    return out if None not in out.values() else None


def _dates(problems: Problems, name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [line for line in value.replace(",", "\n").split() if line.strip()]
    if not isinstance(value, list):
        problems.add(name, MSG_DATES)
        return []
    out = set()
    for item in value:
        try:
            out.add(date.fromisoformat(str(item).strip()).isoformat())
        except ValueError:
            problems.add(name, MSG_DATES)
            return []
    if len(out) > 1000:
        problems.add(name, N_("At most {max} entries"), max=1000)
    return sorted(out)


def check_deadlines(value: Any) -> dict[str, Any]:
    """The deadlines as the office may keep them: every urgency, known categories, positive amounts, dates."""
    if not isinstance(value, dict):
        raise InvalidField("deadlines", N_("Not one of the allowed values"))
    problems = Problems()
    urgency_in = value.get("urgency") if isinstance(value.get("urgency"), dict) else {}
    by_urgency = {u: _pair(problems, f"urgency.{u}", u, urgency_in.get(u)) for u in URGENCIES}
    categories: dict[str, dict[str, Any]] = {}
    categories_in = value.get("categories") or {}
    if not isinstance(categories_in, dict):
        problems.add("categories", N_("Not one of the allowed values"))
        categories_in = {}
    for category, per_urgency in categories_in.items():
        if category not in CATEGORIES or not isinstance(per_urgency, dict):
            problems.add(f"categories.{category}"[:80], N_("Not one of the allowed values"))
            continue
        for urgency, entry in per_urgency.items():
            if urgency not in URGENCIES:
                problems.add(f"categories.{category}.{urgency}"[:80], N_("Not one of the allowed values"))
                continue
            if entry in (None, {}):
                continue
            pair = _pair(problems, f"categories.{category}.{urgency}", urgency, entry)
            if pair is not None:
                categories.setdefault(category, {})[urgency] = pair
    holidays = _dates(problems, "holidays", value.get("holidays") or [])
    workdays = _dates(problems, "workdays", value.get("workdays") or [])
    unknown = set(value) - {"urgency", "categories", "holidays", "workdays"}
    if unknown:
        problems.add("deadlines", N_("Not one of the allowed values"))
    problems.raise_if_any()
    return {"urgency": by_urgency, "categories": categories, "holidays": holidays, "workdays": workdays}


def register_settings() -> None:
    from common.center import settings

    settings.register(DEADLINES_KEY, DEFAULT_DEADLINES, check_deadlines, label=N_("Deadlines"))


register_settings()


def current(session: Any) -> dict[str, Any]:
    from common.center import settings

    return settings.get(session, DEADLINES_KEY)


# ── The calendar ────────────────────────────────────────────────────────────────────────────────────────────────

class Calendar:
    """Working days: Monday to Friday, less the holidays, plus the weekend days worked (调休)."""

    def __init__(self, holidays: Any = (), workdays: Any = ()) -> None:
        self.holidays = {date.fromisoformat(d) if isinstance(d, str) else d for d in holidays}
        self.workdays = {date.fromisoformat(d) if isinstance(d, str) else d for d in workdays}

    @classmethod
    def of(cls, settings_value: dict[str, Any]) -> "Calendar":
        return cls(settings_value.get("holidays") or (), settings_value.get("workdays") or ())

    def is_workday(self, day: date) -> bool:
        return day in self.workdays or (day.weekday() < 5 and day not in self.holidays)

    def add_workdays(self, day: date, count: int) -> date:
        """The `count`-th working day after `day` (never `day` itself)."""
        left = count
        while left > 0:
            day += timedelta(days=1)
            if self.is_workday(day):
                left -= 1
        return day

    def workday_on_or_before(self, day: date) -> date:
        while not self.is_workday(day):
            day -= timedelta(days=1)
        return day


def end_of_day(day: date) -> datetime:
    """24:00 Beijing time of `day`, in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), BEIJING).astimezone(UTC)


def day_of(moment: datetime) -> date:
    """The Beijing day a deadline at `moment` falls on (24:00 belongs to the day before)."""
    return (aware(moment).astimezone(BEIJING) - timedelta(microseconds=1)).date()


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ── At dispatch ─────────────────────────────────────────────────────────────────────────────────────────────────

def limits_for(value: dict[str, Any], urgency: str | None, category: str | None) -> dict[str, Any]:
    urgency = urgency if urgency in URGENCIES else "routine"
    specific = ((value.get("categories") or {}).get(category or "") or {}).get(urgency)
    return specific or (value.get("urgency") or {}).get(urgency) or DEFAULT_DEADLINES["urgency"][urgency]


def at_dispatch(value: dict[str, Any], urgency: str | None, category: str | None, at: datetime) -> dict[str, Any]:
    """The deadlines of a unit dispatched at `at`, as kept on the dispatch event's details."""
    urgency = urgency if urgency in URGENCIES else "routine"
    limits = limits_for(value, urgency, category)
    at = aware(at)
    if unit_of(urgency) == WORKDAYS:
        calendar = Calendar.of(value)
        start = at.astimezone(BEIJING).date()
        sign_by = end_of_day(calendar.add_workdays(start, int(limits["sign"])))
        report_by = end_of_day(calendar.add_workdays(start, int(limits["report"])))
        basis = WORKDAYS
    else:
        sign_by = at + timedelta(hours=float(limits["sign"]))
        report_by = at + timedelta(hours=float(limits["report"]))
        basis = CLOCK
    return {"sign_by": sign_by.isoformat(), "report_by": report_by.isoformat(), "basis": basis}


def parse_until(value: Any) -> datetime | None:
    """An extension's new date: a date (to the end of that day, Beijing time) or a full ISO time."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return end_of_day(date.fromisoformat(text))
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=BEIJING).astimezone(UTC)


def parse_time(value: Any) -> datetime | None:
    try:
        return aware(datetime.fromisoformat(str(value))) if value else None
    except ValueError:
        return None


# ── Escalation steps ────────────────────────────────────────────────────────────────────────────────────────────

REMIND, URGE, SUPERVISE = "remind", "urged", "supervised"


def steps(basis: str, started: datetime, due: datetime, calendar: Calendar) -> list[tuple[str, datetime]]:
    """When each step of one deadline falls due: the reminder, 催办, 督办 (in that order)."""
    started, due = aware(started), aware(due)
    if basis == WORKDAYS:
        last = calendar.workday_on_or_before(day_of(due))
        remind = datetime.combine(last, REMIND_AT, BEIJING).astimezone(UTC)
        supervise = end_of_day(calendar.add_workdays(day_of(due), 1))
    else:
        allowed = max(due - started, timedelta(minutes=1))
        remind = due - min(REMIND_BEFORE, allowed / 2)
        supervise = due + allowed / 2
    return [(REMIND, min(remind, due)), (URGE, due), (SUPERVISE, supervise)]


def first_check(clock: Any, signed: bool, reported: bool, calendar: Calendar | None = None) -> datetime | None:
    """When the job first has work for a dispatch with these deadlines (its earliest reminder)."""
    calendar = calendar or Calendar()
    times = [when for timer in owed(clock, signed, reported).values()
             for _, when in steps(clock.basis, clock.dispatched_at, timer.due, calendar)]
    return min(times, default=None)


def owed(clock: Any, signed: bool, reported: bool) -> dict[str, Any]:
    """The timers of a unit's clock (common/cases/clock.py `UnitClock`) whose step it has not taken yet."""
    out = {}
    if not signed:
        out["sign"] = clock.sign
    if not reported:
        out["report"] = clock.resolve
    return out
