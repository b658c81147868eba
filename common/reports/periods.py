"""Periods of the cycle in China Standard Time: `2026-11`, `2026-Q4`, `2026-H2`, `2026`."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from common.errors import InvalidField
from common.i18n import N_

LOCAL = ZoneInfo("Asia/Shanghai")
KINDS = ("monthly", "quarterly", "semiannual", "annual")
PATTERNS = {"monthly": r"(\d{4})-(0[1-9]|1[0-2])", "quarterly": r"(\d{4})-Q([1-4])", "semiannual": r"(\d{4})-H([12])",
            "annual": r"(\d{4})"}
MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}


def kind_of(period: str) -> str:
    for kind, pattern in PATTERNS.items():
        if re.fullmatch(pattern, period or ""):
            return kind
    raise InvalidField("period", N_("Not one of the allowed values"))


def first_month(kind: str, period: str) -> tuple[int, int]:
    m = re.fullmatch(PATTERNS[kind], period or "")
    if m is None:
        raise InvalidField("period", N_("Not one of the allowed values"))
    year = int(m.group(1))
    n = int(m.group(2)) if kind != "annual" else 1
    return year, {"monthly": n, "quarterly": 3 * n - 2, "semiannual": 6 * n - 5, "annual": 1}[kind]


def _month_start(year: int, month: int) -> datetime:
    y, m = divmod(year * 12 + month - 1, 12)
    return datetime(y, m + 1, 1, tzinfo=LOCAL)


def bounds(kind: str, period: str) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of the period, Beijing time."""
    year, month = first_month(kind, period)
    return _month_start(year, month), _month_start(year, month + MONTHS[kind])


def shift(kind: str, period: str, by: int) -> str:
    """The period `by` periods later (earlier if negative)."""
    year, month = first_month(kind, period)
    start = _month_start(year, month + by * MONTHS[kind])
    return period_of(kind, start)


def period_of(kind: str, moment: datetime) -> str:
    local = moment.astimezone(LOCAL)
    y, m = local.year, local.month
    if kind == "monthly":
        return f"{y:04d}-{m:02d}"
    if kind == "quarterly":
        return f"{y:04d}-Q{(m - 1) // 3 + 1}"
    if kind == "semiannual":
        return f"{y:04d}-H{(m - 1) // 6 + 1}"
    return f"{y:04d}"


def previous(kind: str, now: datetime) -> str:
    """The last period that ended at or before `now` (the one whose report is due)."""
    return shift(kind, period_of(kind, now), -1)
