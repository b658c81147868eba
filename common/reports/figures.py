"""The figures of each report, compiled from the hub's rows as plain data (JSON): the page, the PDF and the workbook
all read them, so the chart, its table and the downloads never disagree.

Risk information counts only what the office adopted (`status == 'adopted'`) where the rows record a status; the
region and industry of a report are its own where it records them, else its enterprise's.
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from common import i18n
from common.cases.vocabulary import EventKind as K
from common.cases.escalation import counts_by_unit
from common.models import Case, CaseEvent, Enterprise, InfoReport, Node, Unit, Visit
from common.reference import CATEGORIES, HAZARD_SEVERITIES, INDUSTRIES, RISK_LEVELS
from common.regions import region_name
from common.reports.periods import bounds, shift

HOT = 3


def _zh(msgid: str) -> str:
    return i18n.translate(msgid, "zh_Hans")


def _rows(counter: Counter[str], labels: dict[str, str] | None = None, namer: Any = None) -> list[dict[str, Any]]:
    out = []
    for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0] or "")):
        if labels is not None and key in labels:
            label = _zh(labels[key])
        elif namer is not None:
            label = namer(key) or key
        else:
            label = key
        out.append({"key": key or "", "label": label or "—", "count": n})
    return out


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return _aware(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


# ── Risk information ──────────────────────────────────────────────────────────────────────────────────────────

def adopted_reports(session: Session, start: datetime, end: datetime) -> list[tuple[str, str, str, str]]:
    """(region, industry, category, severity) of each adopted risk report made in [start, end)."""
    # A report names its region and industry, or leaves them to its enterprise's. Its severity is kept in the
    # risk_level column (InfoReport.severity is a plain property over it).
    columns = [func.coalesce(func.nullif(InfoReport.region_code, ""), Enterprise.region_code),
               func.coalesce(func.nullif(InfoReport.industry, ""), Enterprise.industry),
               InfoReport.category, InfoReport.risk_level]
    stmt = (select(*columns).select_from(InfoReport).outerjoin(Enterprise, Enterprise.id == InfoReport.enterprise_id)
            .where(InfoReport.created_at >= start, InfoReport.created_at < end, InfoReport.deleted_at.is_(None),
                   InfoReport.status == "adopted"))
    return [(r or "", i or "", c or "other", s or "") for r, i, c, s in session.execute(stmt)]


def risk_figures(session: Session, start: datetime, end: datetime, before: tuple[datetime, datetime] | None) -> dict[str, Any]:
    rows = adopted_reports(session, start, end)
    by = [Counter(row[i] for row in rows) for i in range(4)]
    severities = {**RISK_LEVELS, **HAZARD_SEVERITIES}
    out: dict[str, Any] = {
        "total": len(rows),
        "by_region": _rows(by[0], namer=region_name), "by_industry": _rows(by[1], INDUSTRIES),
        "by_category": _rows(by[2], CATEGORIES), "by_severity": _rows(by[3], severities),
    }
    out["hot_regions"] = out["by_region"][:HOT]
    out["hot_industries"] = out["by_industry"][:HOT]
    if before is not None:
        previous = len(adopted_reports(session, *before))
        out["previous_total"] = previous
        out["change"] = len(rows) - previous
    return out


# ── Visits and cases ──────────────────────────────────────────────────────────────────────────────────────────

def _open_hazard(hazard: Any) -> bool:
    return not (isinstance(hazard, dict) and any(hazard.get(k) for k in ("resolved", "rectified", "closed", "fixed")))


def subcenter_of(path: str) -> str:
    parts = [part for part in (path or "").split("/") if part]
    return parts[1] if len(parts) > 1 else parts[0] if parts else "hub"


def visit_figures(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    rows = session.execute(select(Visit.node_id, Visit.hazards).where(
        Visit.visited_at >= start, Visit.visited_at < end, Visit.deleted_at.is_(None))).all()
    hazards = sum(len(h or []) for _, h in rows)
    return {"visits": len(rows), "hazards": hazards,
            "hazards_open": sum(1 for _, h in rows for x in (h or []) if _open_hazard(x))}


def cases_opened(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    rows = session.execute(select(Case.category, func.count()).where(
        Case.created_at >= start, Case.created_at < end, Case.deleted_at.is_(None)).group_by(Case.category)).all()
    counter = Counter({c: int(n) for c, n in rows})
    return {"total": sum(counter.values()), "by_category": _rows(counter, CATEGORIES)}


# ── Per unit, from the cases ──────────────────────────────────────────────────────────────────────────────────

STEP_KINDS = (K.DISPATCHED.value, K.SIGNED.value, K.REPORTED.value, K.RETURNED.value, K.EXTENSION_APPROVED.value)


EMPTY: dict[str, Any] = {"dispatched": 0, "sign_due": 0, "signed_on_time": 0, "sign_hours": None, "report_due": 0,
                         "reported_on_time": 0, "returned": 0, "extensions": 0}


def _tally_python(session: Session, start: datetime, end: datetime, judged_at: datetime) -> dict[str, dict[str, Any]]:
    """Per unit, its dispatches of the period judged one by one (SQLite; PostgreSQL does the same in one query)."""
    dispatched = select(CaseEvent.case_id).where(CaseEvent.kind == K.DISPATCHED.value, CaseEvent.at >= start,
                                                 CaseEvent.at < end, CaseEvent.deleted_at.is_(None))
    events = session.execute(
        select(CaseEvent.case_id, CaseEvent.unit, CaseEvent.kind, CaseEvent.at, CaseEvent.details)
        .where(CaseEvent.case_id.in_(dispatched.scalar_subquery()), CaseEvent.kind.in_(STEP_KINDS),
               CaseEvent.deleted_at.is_(None), CaseEvent.unit.is_not(None))
        .order_by(CaseEvent.case_id, CaseEvent.at, CaseEvent.id)).all()
    tally: dict[str, dict[str, Any]] = defaultdict(lambda: {**EMPTY, "sign_hours": []})
    streams: dict[tuple[Any, str], list[Any]] = defaultdict(list)
    for e in events:
        streams[(e.case_id, e.unit)].append(e)
    for (_, unit), stream in streams.items():
        for i, e in enumerate(stream):
            at = _aware(e.at)
            if e.kind != K.DISPATCHED.value or not (start <= at < end):
                continue
            row = tally[unit]
            row["dispatched"] += 1
            later = stream[i + 1:]
            nxt = next((j for j, x in enumerate(later) if x.kind == K.DISPATCHED.value), len(later))
            later = later[:nxt]  # a re-dispatch starts a new count
            details = e.details or {}
            sign_by, report_by = _parse(details.get("sign_by")), _parse(details.get("report_by"))
            signed = next((_aware(x.at) for x in later if x.kind == K.SIGNED.value), None)
            reported = next((_aware(x.at) for x in later if x.kind == K.REPORTED.value), None)
            for x in later:
                if x.kind == K.EXTENSION_APPROVED.value:
                    row["extensions"] += 1
                    report_by = _parse((x.details or {}).get("until")) or report_by
                elif x.kind == K.RETURNED.value:
                    row["returned"] += 1
            if signed is not None:
                row["sign_hours"].append((signed - at).total_seconds() / 3600)
            for done, due, key in ((signed, sign_by, "sign"), (reported, report_by, "report")):
                if due is None:
                    continue
                if done is not None:
                    row[f"{key}_due"] += 1
                    row[f"{key + 'ed' if key == 'sign' else 'reported'}_on_time"] += int(done <= due)
                elif judged_at > due:
                    row[f"{key}_due"] += 1
    for row in tally.values():
        row["sign_hours"] = statistics.median(row["sign_hours"]) if row["sign_hours"] else None
    return dict(tally)


# The same judgement as `_tally_python`, in PostgreSQL: each dispatch of the period with the unit's events after it
# on the case up to the unit's next dispatch there, then summed per unit. A quarter of a million dispatches in
# seconds, where reading them all into Python would take most of a minute.
_TALLY_SQL = text("""
WITH d AS (
  SELECT e.id, e.case_id, e.unit, e.at,
         (e.details->>'sign_by')::timestamptz AS sign_by, (e.details->>'report_by')::timestamptz AS report_by,
         lead(e.at) OVER w AS next_at, lead(e.id) OVER w AS next_id
  FROM case_event e
  WHERE e.kind = 'dispatched' AND e.deleted_at IS NULL AND e.unit IS NOT NULL
    AND e.case_id IN (SELECT case_id FROM case_event WHERE kind = 'dispatched' AND at >= :start AND at < :end)
  WINDOW w AS (PARTITION BY e.case_id, e.unit ORDER BY e.at, e.id)
), j AS (
  SELECT d.unit, d.at, d.sign_by,
         min(x.at) FILTER (WHERE x.kind = 'signed') AS signed_at,
         min(x.at) FILTER (WHERE x.kind = 'reported') AS reported_at,
         count(x.id) FILTER (WHERE x.kind = 'returned') AS returned,
         count(x.id) FILTER (WHERE x.kind = 'extension_approved') AS extensions,
         coalesce((array_agg(x.until ORDER BY x.at DESC, x.id DESC) FILTER (WHERE x.until IS NOT NULL))[1],
                  d.report_by) AS report_by
  FROM d LEFT JOIN (
    SELECT case_id, unit, kind, at, id,
           CASE WHEN kind = 'extension_approved' THEN (details->>'until')::timestamptz END AS until
    FROM case_event
    WHERE deleted_at IS NULL AND kind IN ('signed', 'reported', 'returned', 'extension_approved')
  ) x ON x.case_id = d.case_id AND x.unit = d.unit
   AND (x.at, x.id) > (d.at, d.id) AND (d.next_at IS NULL OR (x.at, x.id) < (d.next_at, d.next_id))
  WHERE d.at >= :start AND d.at < :end
  GROUP BY d.id, d.unit, d.at, d.sign_by, d.report_by
)
SELECT unit, count(*) AS dispatched,
       count(*) FILTER (WHERE sign_by IS NOT NULL AND (signed_at IS NOT NULL OR :judged > sign_by)) AS sign_due,
       count(*) FILTER (WHERE sign_by IS NOT NULL AND signed_at <= sign_by) AS signed_on_time,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM signed_at - at) / 3600.0) AS sign_hours,
       count(*) FILTER (WHERE report_by IS NOT NULL AND (reported_at IS NOT NULL OR :judged > report_by)) AS report_due,
       count(*) FILTER (WHERE report_by IS NOT NULL AND reported_at <= report_by) AS reported_on_time,
       sum(returned) AS returned, sum(extensions) AS extensions
FROM j GROUP BY unit
""")


def _tally_postgresql(session: Session, start: datetime, end: datetime, judged_at: datetime) -> dict[str, dict[str, Any]]:
    # For this transaction: its sorts in memory rather than on disk, and no JIT compiling (a second or more of
    # compiling for a query that runs once a quarter).
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    session.execute(text("SET LOCAL jit = off"))
    out = {}
    for row in session.execute(_TALLY_SQL, {"start": start, "end": end, "judged": judged_at}).mappings():
        out[row["unit"]] = {key: (int(row[key]) if key != "sign_hours" else
                                  (float(row[key]) if row[key] is not None else None)) for key in EMPTY}
    return out


def unit_scorecard(session: Session, start: datetime, end: datetime, judged_at: datetime) -> list[dict[str, Any]]:
    """Per unit, its dispatches made in [start, end): each judged as the case page times it — signed for by the
    dispatch's `sign_by`, reported back by its `report_by` (or an approved extension's `until`); a step not done
    counts late once its deadline is before `judged_at`, and is not judged while it still may be done in time."""
    if session.get_bind().dialect.name == "postgresql":
        tally = _tally_postgresql(session, start, end, judged_at)
    else:
        tally = _tally_python(session, start, end, judged_at)
    escalated = counts_by_unit(session, start, end)
    satisfaction = _satisfaction(session, start, end)
    names = dict(session.execute(select(Unit.id, Unit.name)).tuples().all())
    order = {u: i for i, u in enumerate(session.scalars(select(Unit.id).order_by(Unit.sort_order, Unit.id)))}
    out = []
    for unit in sorted(set(tally) | set(escalated), key=lambda u: (order.get(u, len(order)), u)):
        row = tally.get(unit) or dict(EMPTY)
        hours = row.pop("sign_hours")
        out.append({"unit": unit, "name": names.get(unit, unit), **row,
                    "sign_rate": _rate(row["signed_on_time"], row["sign_due"]),
                    "report_rate": _rate(row["reported_on_time"], row["report_due"]),
                    "median_sign_hours": round(hours, 1) if hours is not None else None,
                    "urged": escalated.get(unit, {}).get("urged", 0),
                    "supervised": escalated.get(unit, {}).get("supervised", 0),
                    "satisfaction": satisfaction.get(unit)})
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _satisfaction(session: Session, start: datetime, end: datetime) -> dict[str, float]:
    """The mean call-back satisfaction of the cases each unit led, of the call-backs made in the period."""
    rows = session.execute(select(Case.lead_unit, func.avg(CaseEvent.satisfaction)).join(Case, Case.id == CaseEvent.case_id)
                           .where(CaseEvent.kind == K.CALLBACK.value, CaseEvent.satisfaction.is_not(None),
                                  CaseEvent.at >= start, CaseEvent.at < end, CaseEvent.deleted_at.is_(None),
                                  Case.lead_unit.is_not(None)).group_by(Case.lead_unit)).all()
    return {unit: round(float(avg), 2) for unit, avg in rows if avg is not None}


def subcenter_scorecard(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per sub-center (its workstations' rows with it): visits made against the plan (each enterprise of its subtree
    visited at least once in the period), enterprises not visited in the period (overdue), hazards found and open."""
    nodes = session.execute(select(Node.id, Node.path, Node.kind, Node.name)).all()
    owner = {n.id: subcenter_of(n.path) for n in nodes}
    out: dict[str, dict[str, Any]] = {n.id: {"node": n.id, "name": n.name, "visits": 0, "planned": 0, "visited": 0,
                                             "overdue": 0, "hazards": 0, "hazards_open": 0}
                                      for n in nodes if n.kind == "subcenter"}
    for node_id, n in session.execute(select(Enterprise.node_id, func.count()).where(Enterprise.deleted_at.is_(None))
                                      .group_by(Enterprise.node_id)):
        if owner.get(node_id) in out:
            out[owner[node_id]]["planned"] += int(n)
    visited: dict[str, set[Any]] = defaultdict(set)
    for node_id, enterprise_id, hazards in session.execute(select(Visit.node_id, Visit.enterprise_id, Visit.hazards).where(
            Visit.visited_at >= start, Visit.visited_at < end, Visit.deleted_at.is_(None))):
        sc = owner.get(node_id)
        if sc not in out:
            continue
        row = out[sc]
        row["visits"] += 1
        visited[sc].add(enterprise_id)
        row["hazards"] += len(hazards or [])
        row["hazards_open"] += sum(1 for h in (hazards or []) if _open_hazard(h))
    for sc, row in out.items():
        row["visited"] = len(visited[sc])
        row["overdue"] = max(0, row["planned"] - row["visited"])
        row["plan_rate"] = _rate(row["visited"], row["planned"])
    return sorted(out.values(), key=lambda r: r["node"])


# ── The reports ───────────────────────────────────────────────────────────────────────────────────────────────

def monthly(session: Session, period: str) -> dict[str, Any]:
    start, end = bounds("monthly", period)
    before = bounds("monthly", shift("monthly", period, -1))
    return {"period": period, "start": start.isoformat(), "end": end.isoformat(),
            "risk": risk_figures(session, start, end, before), "visits": visit_figures(session, start, end),
            "cases": cases_opened(session, start, end)}


def quarterly(session: Session, period: str, judged_at: datetime | None = None) -> dict[str, Any]:
    start, end = bounds("quarterly", period)
    return {"period": period, "start": start.isoformat(), "end": end.isoformat(),
            "units": unit_scorecard(session, start, end, judged_at or end),
            "subcenters": subcenter_scorecard(session, start, end),
            "cases": cases_opened(session, start, end), "risk": risk_figures(session, start, end, None)}


def _months(kind: str, period: str) -> list[str]:
    from common.reports.periods import MONTHS, period_of
    start, _ = bounds(kind, period)
    first = period_of("monthly", start)
    return [shift("monthly", first, i) for i in range(MONTHS[kind])]


def long_period(session: Session, kind: str, period: str, judged_at: datetime | None = None) -> dict[str, Any]:
    """The half year's or the year's: cases opened, overdue, returned, supervised; the risk trend month by month."""
    start, end = bounds(kind, period)
    units = unit_scorecard(session, start, end, judged_at or end)
    overdue = sum((u["sign_due"] - u["signed_on_time"]) + (u["report_due"] - u["reported_on_time"]) for u in units)
    trend = []
    for month in _months(kind, period):
        m_start, m_end = bounds("monthly", month)
        trend.append({"key": month, "label": month, "count": len(adopted_reports(session, m_start, m_end))})
    return {"period": period, "start": start.isoformat(), "end": end.isoformat(),
            "cases": cases_opened(session, start, end),
            "totals": {"dispatched": sum(u["dispatched"] for u in units), "overdue": overdue,
                       "returned": sum(u["returned"] for u in units), "urged": sum(u["urged"] for u in units),
                       "supervised": sum(u["supervised"] for u in units)},
            "units": units, "risk": risk_figures(session, start, end, None), "risk_trend": trend,
            "visits": visit_figures(session, start, end)}


def compile_figures(session: Session, kind: str, period: str, now: datetime | None = None) -> dict[str, Any]:
    if kind == "monthly":
        return monthly(session, period)
    if kind == "quarterly":
        return quarterly(session, period, now)
    return long_period(session, kind, period, now)
