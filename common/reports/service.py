"""Reports: compiled as drafts (by the cycle jobs or the office), edited and published by the office; who may read
which; the warning drafted from a digest; the summary tasks of a quarter."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import Conflict, Forbidden, InvalidField, NotFound
from common.i18n import N_
from common.models import Unit, utcnow
from common.policy import Principal
from common.reports import figures as F
from common.reports.models import Report
from common.reports.periods import KINDS, kind_of
from common.service import audit_write
from common.tasks.models import Task

TITLES = {"monthly": N_("Monthly risk analysis {period}"), "quarterly": N_("Quarterly summary {period}"),
          "semiannual": N_("Half-year figures {period}"), "annual": N_("Annual summary {period}")}


def title_of(report: Report, translate: Any) -> str:
    return translate(TITLES[report.kind]).format(period=report.period)


# ── Who may read ──────────────────────────────────────────────────────────────────────────────────────────────

def may_list(p: Principal) -> bool:
    return p.is_office or p.role == "liaison"


def may_read(p: Principal, report: Report) -> bool:
    """The office (its leaders too) reads every report; a liaison officer the published monthly digests."""
    if p.is_office:
        return True
    return p.role == "liaison" and report.status == "published" and report.kind == "monthly"


def readable(session: Session, p: Principal) -> Any:
    stmt = select(Report)
    if p.is_office:
        return stmt
    if p.role == "liaison":
        return stmt.where(Report.status == "published", Report.kind == "monthly")
    raise Forbidden(N_("Reports are read by the office at the hub."))


def get_report(session: Session, p: Principal, report_id: uuid.UUID) -> Report:
    report = session.get(Report, report_id)
    if report is None or not may_read(p, report):
        # Another's report is not there for them, as a row outside a tenant's scope.
        if not may_list(p):
            raise Forbidden(N_("Reports are read by the office at the hub."))
        raise NotFound()
    return report


# ── Compiling ─────────────────────────────────────────────────────────────────────────────────────────────────

def find(session: Session, kind: str, period: str) -> Report | None:
    return session.scalars(select(Report).where(Report.kind == kind, Report.period == period)).first()


def compile_report(session: Session, kind: str, period: str, now: datetime | None = None,
                   recompile: bool = False) -> tuple[Report, bool]:
    """The report of `kind` for `period`, compiled as a draft if there is none yet (or again, while a draft, if
    `recompile`); and whether it was compiled now."""
    if kind not in KINDS or kind_of(period) != kind:
        raise InvalidField("period", N_("Not one of the allowed values"))
    report = find(session, kind, period)
    if report is not None and not (recompile and report.status == "draft"):
        return report, False
    figures = F.compile_figures(session, kind, period, now)
    if report is None:
        report = Report(kind=kind, period=period, status="draft", figures=figures, compiled_at=utcnow())
        session.add(report)
    else:
        report.figures, report.compiled_at = figures, utcnow()
    session.flush()
    return report, True


def compile_half_year(session: Session, period: str) -> dict[str, Any]:
    """The half year's figures (`2026-H2`), for the joint meeting's agenda: cases, overdue, returned, supervised,
    per unit, the risk trend by month. Read-only: no report row is made."""
    if kind_of(period) != "semiannual":
        raise InvalidField("period", N_("Not one of the allowed values"))
    return F.long_period(session, "semiannual", period)


def update_report(session: Session, p: Principal, report: Report, data: dict[str, Any]) -> Report:
    if not p.is_office:
        raise Forbidden(N_("Only the center office may do this."))
    changed = []
    for field in ("analysis", "guidance"):
        if field in data:
            value = data[field]
            if not isinstance(value, str) or len(value) > 20000:
                raise InvalidField(field, N_("Not one of the allowed values"))
            if value != getattr(report, field):
                setattr(report, field, value)
                changed.append(field)
    status = data.get("status")
    if status not in (None, report.status):
        if status != "published":
            raise Conflict(N_("A published report stays published."))
        report.status, report.published_at, report.published_by = "published", utcnow(), p.user_id
        changed.append("status")
    if changed:
        session.flush()
        audit_write(session, p, "update", "report", report.id, {"changed": changed})
    return report


# ── The warning drafted from a digest ─────────────────────────────────────────────────────────────────────────

def draft_bulletin(session: Session, p: Principal, report: Report) -> Any:
    """A warning in draft (not yet published: the office reads it over, then publishes it on its page) addressed to
    the digest's hot regions and industries. A second call returns the same draft while it exists."""
    from common.bulletins import service as bulletins
    from common.models import Bulletin

    if not p.is_office:
        raise Forbidden(N_("Only the center office may do this."))
    if report.kind != "monthly":
        raise Conflict(N_("Only a monthly digest drafts a warning."))
    if report.bulletin_id is not None:
        existing = session.get(Bulletin, report.bulletin_id)
        if existing is not None and existing.deleted_at is None:
            return existing
    risk = report.figures.get("risk", {})
    regions = [r["key"] for r in risk.get("hot_regions", []) if r["key"] and r["key"].isdigit()]
    industries = [r["key"] for r in risk.get("hot_industries", []) if r["key"]]
    if not regions and not industries:
        raise Conflict(N_("The digest names no region or industry to warn."))
    lines = [f"{report.period} 风险信息研判：共采纳风险信息 {risk.get('total', 0)} 条。"]
    if risk.get("hot_regions"):
        lines.append("重点地区：" + "、".join(f"{r['label']}（{r['count']}）" for r in risk["hot_regions"]))
    if risk.get("hot_industries"):
        lines.append("重点行业：" + "、".join(f"{r['label']}（{r['count']}）" for r in risk["hot_industries"]))
    if report.analysis:
        lines.append(report.analysis)
    bulletin = bulletins.create_bulletin(session, p, {
        "kind": "warning", "title": f"{report.period} 风险预警", "body": "\n".join(lines), "severity": "notice",
        "targets": {"regions": regions, "industries": industries}, "publish": False})
    report.bulletin_id = bulletin.id
    session.flush()
    return bulletin


# ── Tasks of the cycle ────────────────────────────────────────────────────────────────────────────────────────

def ensure_task(session: Session, key: str, **values: Any) -> bool:
    """A task made once per `cycle_key` however often the job runs; True when made now."""
    if session.scalar(select(Task.id).where(Task.cycle_key == key)) is not None:
        return False
    session.add(Task(cycle_key=key, **values))
    session.flush()
    return True


def summary_tasks(session: Session, report: Report, due: Any) -> int:
    """Each active unit is asked for its written summary of the quarter (Art. 18(1))."""
    made = 0
    for unit_id, name in session.execute(select(Unit.id, Unit.name).where(Unit.active.is_(True)).order_by(Unit.sort_order, Unit.id)):
        made += ensure_task(session, f"summary:{report.period}:unit:{unit_id}", title=f"{report.period} 季度工作书面总结",
                            body=f"请{name}于期限内提交{report.period}警企联动工作书面总结。", owner_unit=unit_id,
                            due=due, source="summary", period=report.period, report_id=report.id, node_id="hub")
    return made
