"""The statistics page's figures and their Excel workbook, each figure within the asker's scope.

Three figures the office reviews every month and quarter (Art. 18(1)): requests by category and month, safety
visits per sub-center and month, and each police unit's on-time rates (signed for within the sign-for deadline,
reported back within the report deadline of `case_rules`). The page, its tables and the workbook all read the
same `Figures`, so the chart, the table under it and the download never disagree.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.orm import Session

from common import i18n, policy
from common.errors import Forbidden, NotFound
from common.i18n import N_
from common.cases.models import OPEN_STEPS
from common.models import Case, CaseMonth, CaseUnit, Node, Unit, UnitCaseMonth, UnitMonth, VisitMonth
from common.policy import Principal
from common.reference import CATEGORIES, NODE_KINDS
from common.cases.escalation import counts_by_unit

LOCAL = ZoneInfo("Asia/Shanghai")
MONTHS = 12
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

TITLES = {
    "cases": N_("Requests by category and month"),
    "visits": N_("Visits per sub-center and month"),
    "units": N_("On-time handling per police unit"),
}


@dataclass(frozen=True)
class Series:
    """One row of a month table (a category, a sub-center): a count per month."""

    key: str
    label: str
    values: list[int]

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass(frozen=True)
class MonthTable:
    """Counts per month for a few series; the months run oldest first and end with the current one."""

    months: list[str]
    series: list[Series]

    @property
    def month_totals(self) -> list[int]:
        return [sum(s.values[i] for s in self.series) for i in range(len(self.months))]

    @property
    def total(self) -> int:
        return sum(s.total for s in self.series)


@dataclass(frozen=True)
class UnitRate:
    """A unit's dispatches in the window: how many sign-fors and reports were due, how many came in time.

    A step counts once it is done or its deadline has passed; one still running on time is not judged yet.
    """

    unit: str
    name: str
    sign_due: int = 0
    sign_on_time: int = 0
    report_due: int = 0
    report_on_time: int = 0
    # 催办 and 督办 of the unit in the window (common/cases/escalation.py `counts_by_unit`).
    urged: int = 0
    supervised: int = 0

    @property
    def sign_rate(self) -> float | None:
        return self.sign_on_time / self.sign_due if self.sign_due else None

    @property
    def report_rate(self) -> float | None:
        return self.report_on_time / self.report_due if self.report_due else None


@dataclass
class Figures:
    """What one person may see: absent figures are not theirs to see (`None`)."""

    months: list[str]
    cases: MonthTable | None = None
    visits: MonthTable | None = None
    units: list[UnitRate] | None = None
    titles: dict[str, str] = field(default_factory=dict)


# ── Months ────────────────────────────────────────────────────────────────────────────────────────────────────

def month_window(now: datetime, months: int = MONTHS) -> tuple[list[str], datetime, datetime]:
    """The last `months` calendar months in China Standard Time, and their bounds in UTC (end exclusive)."""
    local = now.astimezone(LOCAL)
    year, month = local.year, local.month
    keys = []
    for back in range(months - 1, -1, -1):
        y, m = divmod(year * 12 + month - 1 - back, 12)
        keys.append(f"{y:04d}-{m + 1:02d}")
    first_y, first_m = (int(x) for x in keys[0].split("-"))
    end_y, end_m = divmod(year * 12 + month, 12)
    start = datetime(first_y, first_m, 1, tzinfo=LOCAL)
    end = datetime(end_y, end_m + 1, 1, tzinfo=LOCAL)
    return keys, start, end


def month_of(column: Any, dialect: str) -> Any:
    """`YYYY-MM` of a UTC timestamp column, in China Standard Time, computed by the database."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM")
    # SQLite keeps UTC timestamps as text; strftime shifts them to UTC+8 (China keeps no daylight saving).
    return func.strftime("%Y-%m", column, "+8 hours")


def _table(months: list[str], counts: dict[tuple[str, str], int], labels: dict[str, str]) -> MonthTable:
    """Series in the order of `labels`, only those with something in the window."""
    index = {m: i for i, m in enumerate(months)}
    series = []
    for key, label in labels.items():
        values = [0] * len(months)
        for (series_key, month), n in counts.items():
            if series_key == key and month in index:
                values[index[month]] += n
        if any(values):
            series.append(Series(key, label, values))
    return MonthTable(months, series)


# ── The figures ───────────────────────────────────────────────────────────────────────────────────────────────

def cases_by_category(session: Session, p: Principal, dialect: str, now: datetime, language: str) -> MonthTable:
    """Requests raised per month and category (Art. 17), of the cases `p` may see.

    Read from the counts the database keeps beside the cases (revision 0032): per node, category and month
    (`case_month`); for a liaison, whose cases are its unit's rather than a node's, per unit (`unit_case_month`)."""
    months, _, _ = month_window(now)
    kept = UnitCaseMonth if p.role == "liaison" else CaseMonth
    stmt = (policy.scoped(kept, p).where(kept.month.in_(months))
            .with_only_columns(kept.category, kept.month, func.sum(kept.cases)).group_by(kept.category, kept.month))
    counts = {(category, m): int(n) for category, m, n in session.execute(stmt)}
    labels = {key: i18n.translate(text, language) for key, text in CATEGORIES.items()}
    return _table(months, counts, labels)


def visits_by_subcenter(session: Session, p: Principal, dialect: str, now: datetime, language: str) -> MonthTable:
    """Visits per month, each counted for the sub-center whose subtree holds it (a workstation's go to its parent).

    Read from the counts per node and month the database keeps beside the visits (`visit_month`, revision 0029),
    not from a year of visits; their months are `month_of`'s."""
    months, _, _ = month_window(now)
    stmt = (policy.scoped(VisitMonth, p).where(VisitMonth.month.in_(months))
            .with_only_columns(VisitMonth.node_id, VisitMonth.month, VisitMonth.visits))
    nodes = session.execute(select(Node.id, Node.path, Node.kind, Node.name).order_by(Node.path)).all()
    owner = {n.id: _subcenter_of(n.path) for n in nodes}
    labels = {n.id: n.name for n in nodes if n.kind == "subcenter"}
    labels["hub"] = i18n.translate(NODE_KINDS["hub"], language)
    counts: dict[tuple[str, str], int] = {}
    for node_id, m, n in session.execute(stmt):
        key = (owner.get(node_id, node_id), m)
        counts[key] = counts.get(key, 0) + n
    return _table(months, counts, labels)


def _subcenter_of(path: str) -> str:
    """`/hub/sc-shanghai/ws-demo-1/` → `sc-shanghai`; the hub's own rows stay the hub's."""
    parts = [part for part in path.split("/") if part]
    return parts[1] if len(parts) > 1 else parts[0] if parts else "hub"


def unit_on_time(session: Session, p: Principal, now: datetime, language: str, every_unit: bool = False) -> list[UnitRate]:
    """Per unit, its latest dispatch on each case it is still on (a unit that returned a case is off it), made within
    the window, judged against the deadlines that dispatch kept (or an approved extension): a step done counts, in
    time or not; a step not done counts as late once its deadline has passed and is not judged before. Unless
    `every_unit` (the office's comparison), only `p`'s own unit.

    The office's and a liaison's figures add up the counts the database keeps per unit and month (`unit_month`) and
    judge only the steps still open against the clock; a node's figures (the office looking at one sub-center) are
    counted from that node's dispatches. Both are one query in the database, whatever the number of cases.
    """
    months, start, _ = month_window(now)
    if p.is_office or p.role == "liaison":
        tally = _counted(session, p, months, start, now, every_unit)
    else:
        tally = _of_node(session, p, start, now)
    escalated = {unit: counts for unit, counts in counts_by_unit(session, start, now).items()
                 if every_unit or unit == p.unit_id}
    for unit in escalated:
        tally.setdefault(unit, [0, 0, 0, 0])
    names = _unit_names(session, language)
    return [UnitRate(unit, names.get(unit, unit), *tally[unit], **escalated.get(unit, {}))
            for unit in sorted(tally, key=_unit_order(names))]


def _late(done: Any, due: Any, now: datetime) -> Any:
    """1 for a step not done whose deadline has passed, else 0 (an SQL expression)."""
    return func.sum(case((and_(done.is_(None), due < now), 1), else_=0))


def _counted(session: Session, p: Principal, months: list[str], start: datetime, now: datetime,
             every_unit: bool) -> dict[str, list[int]]:
    """(sign-fors due, in time, reports due, in time) per unit: the steps done from `unit_month`, the open ones judged
    now from the few dispatches that still have one (`ix_case_unit_open_steps`)."""
    done = (policy.scoped(UnitMonth, p).where(UnitMonth.month.in_(months))
            .with_only_columns(UnitMonth.unit_id, func.sum(UnitMonth.dispatched), func.sum(UnitMonth.signed),
                               func.sum(UnitMonth.signed_on_time), func.sum(UnitMonth.reported),
                               func.sum(UnitMonth.reported_on_time))
            .group_by(UnitMonth.unit_id))
    # The same condition as the index's (OPEN_STEPS), so the database reads the index and not the table.
    open_steps = (select(CaseUnit.unit_id, _late(CaseUnit.signed_at, CaseUnit.sign_by, now),
                         _late(CaseUnit.reported_at, CaseUnit.report_by, now))
                  .where(text(OPEN_STEPS), CaseUnit.dispatched_at >= start).group_by(CaseUnit.unit_id))
    if not every_unit or not p.is_office:
        done = done.where(UnitMonth.unit_id == p.unit_id)
        open_steps = open_steps.where(CaseUnit.unit_id == p.unit_id)
    tally: dict[str, list[int]] = {}
    for unit, dispatched, signed, signed_on_time, reported, reported_on_time in session.execute(done):
        if dispatched:
            tally[unit] = [int(signed), int(signed_on_time), int(reported), int(reported_on_time)]
    for unit, sign_late, report_late in session.execute(open_steps):
        if sign_late or report_late:
            row = tally.setdefault(unit, [0, 0, 0, 0])
            row[0] += int(sign_late)
            row[2] += int(report_late)
    return tally


def _of_node(session: Session, p: Principal, start: datetime, now: datetime) -> dict[str, list[int]]:
    """The same judgement over the dispatches of the cases `p` (a node's scope) may see, summed in the database."""
    cu = CaseUnit

    def counted(done: Any, due: Any) -> Any:
        return func.sum(case((or_(done.is_not(None), due < now), 1), else_=0))

    def in_time(done: Any, due: Any) -> Any:
        return func.sum(case((done <= due, 1), else_=0))

    stmt = (select(cu.unit_id, counted(cu.signed_at, cu.sign_by), in_time(cu.signed_at, cu.sign_by),
                   counted(cu.reported_at, cu.report_by), in_time(cu.reported_at, cu.report_by), func.count())
            .where(cu.active.is_(True), cu.dispatched_at >= start,
                   cu.case_id.in_(policy.scoped(Case, p).with_only_columns(Case.id)))
            .group_by(cu.unit_id))
    return {unit: [int(a), int(b), int(c), int(d)] for unit, a, b, c, d, n in session.execute(stmt) if n}


def _unit_names(session: Session, language: str) -> dict[str, str]:
    rows = session.execute(select(Unit.id, Unit.name, Unit.name_en).order_by(Unit.sort_order, Unit.id))
    return {r.id: (r.name_en or r.name) if language == "en" else r.name for r in rows}


def _unit_order(names: dict[str, str]) -> Any:
    order = {unit: i for i, unit in enumerate(names)}
    return lambda unit: (order.get(unit, len(order)), unit)


# ── Who sees which ────────────────────────────────────────────────────────────────────────────────────────────

def figures_for(session: Session, p: Principal, dialect: str, now: datetime, language: str,
                scope: Principal | None = None) -> Figures:
    """The office sees all three; a sub-center its requests and visits; a workstation its requests; a liaison its
    unit's requests and its own unit's on-time rates. `scope` narrows the rows to one node's subtree (see
    `node_scope`); which figures appear is still decided by `p`'s role. Every query starts from `policy.scoped`."""
    months, _, _ = month_window(now)
    rows = scope or p
    figures = Figures(months, titles={k: i18n.translate(v, language) for k, v in TITLES.items()})
    figures.cases = cases_by_category(session, rows, dialect, now, language)
    if p.role in ("office", "subcenter"):
        figures.visits = visits_by_subcenter(session, rows, dialect, now, language)
    if p.role == "office":
        figures.units = unit_on_time(session, rows, now, language, every_unit=True)
    elif p.role == "liaison":
        figures.units = unit_on_time(session, p, now, language)
    return figures


def node_scope(session: Session, p: Principal, node_id: str) -> Principal:
    """The rows of one node's subtree, for the office (any node) or a head looking at a node below their own.

    Anyone else asking for a node is refused: the figures of other tenants are the office's to see.
    """
    if p.role == "liaison" or (not p.is_office and node_id not in p.subtree):
        raise Forbidden(N_("This belongs to a node outside your scope."))
    if session.get(Node, node_id) is None:
        raise NotFound()
    return policy.principal_at(session, p.user_id, p.username, "subcenter", node_id)


def chart_data(figures: Figures, language: str) -> dict[str, Any]:
    """What dashboard.js draws: plain lists, so the page's JSON holds nothing but the numbers and their labels."""
    def t(msgid: str) -> str:
        return i18n.translate(msgid, language)

    out: dict[str, Any] = {}
    for key in ("cases", "visits"):
        table: MonthTable | None = getattr(figures, key)
        if table is not None:
            out[key] = {"kind": "months", "title": figures.titles[key], "months": table.months,
                        "series": [{"name": s.label, "values": s.values} for s in table.series]}
    if figures.units is not None:
        out["units"] = {"kind": "rates", "title": figures.titles["units"], "units": [u.name for u in figures.units],
                        "series": [{"name": t(N_("Signed for in time")), "values": [_percent(u.sign_rate) for u in figures.units]},
                                   {"name": t(N_("Reported back in time")),
                                    "values": [_percent(u.report_rate) for u in figures.units]}]}
    return out


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


# ── The workbook ──────────────────────────────────────────────────────────────────────────────────────────────

def _zh(msgid: str) -> str:
    """The workbook speaks Chinese whatever the page's language: it is filed and forwarded as it is."""
    return i18n.translate(msgid, "zh_Hans")


SHEETS = {"cases": N_("Requests"), "visits": N_("Visits"), "units": N_("On-time rates")}


def workbook(figures: Figures) -> bytes:
    """One sheet per figure, headers in Chinese, the same numbers as the page (built with `language="zh_Hans"`)."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    if figures.cases is not None:
        _month_sheet(book, _zh(SHEETS["cases"]), _zh(N_("Category")), figures.cases)
    if figures.visits is not None:
        _month_sheet(book, _zh(SHEETS["visits"]), _zh(N_("Sub-center")), figures.visits)
    if figures.units is not None:
        _unit_sheet(book, _zh(SHEETS["units"]), figures.units)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _month_sheet(book: Any, title: str, first: str, table: MonthTable) -> None:
    sheet = book.create_sheet(title)
    sheet.append([first, *table.months, _zh(N_("Total"))])
    for s in table.series:
        sheet.append([s.label, *s.values, s.total])
    sheet.append([_zh(N_("Total")), *table.month_totals, table.total])
    _header_style(sheet, 1 + len(table.months) + 1)


def _unit_sheet(book: Any, title: str, units: list[UnitRate]) -> None:
    sheet = book.create_sheet(title)
    sheet.append([_zh(N_("Police unit")), _zh(N_("Sign-fors due")), _zh(N_("Signed for in time")), _zh(N_("Sign-for on-time rate")),
                  _zh(N_("Reports due")), _zh(N_("Reported back in time")), _zh(N_("Report on-time rate")),
                  _zh(N_("Urged (催办)")), _zh(N_("Supervised (督办)"))])
    for u in units:
        sheet.append([u.name, u.sign_due, u.sign_on_time, u.sign_rate, u.report_due, u.report_on_time, u.report_rate,
                      u.urged, u.supervised])
    for row in sheet.iter_rows(min_row=2):
        for cell in (row[3], row[6]):
            cell.number_format = "0.0%"
    _header_style(sheet, 9)


def _header_style(sheet: Any, columns: int) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = 24
    for i in range(2, columns + 1):
        sheet.column_dimensions[get_column_letter(i)].width = 12


def filename(now: datetime) -> str:
    return f"lianfu-stats-{now.astimezone(LOCAL):%Y%m%d}.xlsx"
