"""Risk information (Art. 12, 18(1)): reported by liaison officers, sub-centers and workstations, at the hub or
offline at a spoke; reviewed by the office at the hub (adopted or not, with a comment), its reporter told."""
from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import Select, or_
from sqlalchemy.orm import Session

from common import policy, regions, rules
from common.errors import Conflict, Forbidden, InvalidField
from common.i18n import N_
from common.inforeports.reference import DECISIONS, INFO_CATEGORIES, SEVERITIES
from common.models import InfoReport, utcnow
from common.policy import Principal
from common.reference import INDUSTRIES
from common.service import (
    Problems, apply_changes, audit_write, choice, enforce_rules, optional_text, required_text, visible_enterprise,
)
from common import validation as v

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def clean(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    """The reporter's own fields; `severity` is kept in the `risk_level` column."""
    problems = Problems()
    out: dict[str, Any] = {}
    if not partial or "title" in data:
        out["title"] = required_text(problems, data, "title", 200)
    for name, size in (("body", v.MAX_BODY), ("source", 200)):
        if name in data:
            out[name] = optional_text(problems, data, name, size) or ""
    if not partial or "category" in data:
        out["category"] = choice(problems, {"category": data.get("category") or "other"}, "category", INFO_CATEGORIES)
    if not partial or "severity" in data or "risk_level" in data:
        raw = data.get("severity", data.get("risk_level")) or "low"
        out["risk_level"] = choice(problems, {"severity": raw}, "severity", SEVERITIES)
    if "region_code" in data:
        code = str(data.get("region_code") or "").strip()
        if code and not regions.is_known(code):
            problems.add("region_code", N_("Not a known region code"))
        out["region_code"] = code or None
    if "industry" in data:
        industry = str(data.get("industry") or "").strip()
        if industry and industry not in INDUSTRIES:
            problems.add("industry", N_("Not one of the allowed values"))
        out["industry"] = industry or None
    problems.raise_if_any()
    return out


def _review_fields(data: dict[str, Any]) -> dict[str, Any]:
    """What a reporter sent of the office's review: refused by the rules unless it is what a new report is."""
    return {name: data[name] for name in ("status", "comment") if name in data}


def create_report(session: Session, p: Principal, data: dict[str, Any]) -> InfoReport:
    policy.require_write(p, "info_report", "create")
    enforce_rules("info_report", p, None, _review_fields(data))
    problems = Problems()
    enterprise = None
    if data.get("enterprise_id") not in (None, ""):
        enterprise = visible_enterprise(session, p, problems, data)
    values = problems.check(clean, data, False) or {}
    problems.raise_if_any()
    # Part of the enterprise's file when it names one (it goes where the enterprise goes); else the reporter's node.
    node_id = enterprise.node_id if enterprise is not None else p.node_id
    if enterprise is not None:
        if not values.get("region_code"):
            values["region_code"] = enterprise.region_code
        if not values.get("industry"):
            values["industry"] = enterprise.industry
    writer = rules.Writer(p.user_id, p.role, p.node_id, p.unit_id, p.leader)
    report = InfoReport(node_id=node_id, enterprise_id=enterprise.id if enterprise else None,
                        status="submitted", comment="", **values, **rules.stamp("info_report", writer))
    session.add(report)
    session.flush()
    audit_write(session, p, "create", "info_report", report.id, {"category": report.category,
                                                                 "severity": report.risk_level})
    return report


def update_report(session: Session, p: Principal, report_id: uuid.UUID, data: dict[str, Any]) -> InfoReport:
    """The reporter (or the office) corrects a report not yet reviewed."""
    report = policy.get_visible(session, InfoReport, report_id, p)
    policy.require_write(p, "info_report", "update", report.node_id)
    if not p.is_office and report.reported_by != p.user_id:
        raise_forbidden()
    enforce_rules("info_report", p, report, _review_fields(data))
    if report.status != "submitted":
        raise Conflict(N_("This report has been reviewed and can no longer be changed."))
    changed = apply_changes(report, clean(data, partial=True))
    if changed:
        session.flush()
        audit_write(session, p, "update", "info_report", report.id, {"changed": changed})
    return report


def raise_forbidden() -> None:
    raise Forbidden(N_("Only its reporter or the office may change this."))


def review_report(session: Session, p: Principal, report_id: uuid.UUID, decision: str, comment: str) -> InfoReport:
    """The office adopts a report or not, with its comment (at the hub); the reporter is told."""
    policy.require_office(p)
    report = policy.get_visible(session, InfoReport, report_id, p)
    if decision not in DECISIONS:
        raise InvalidField("decision", N_("Not one of the allowed values"))
    comment = (comment or "").strip()
    if len(comment) > v.MAX_NOTE:
        raise InvalidField("comment", N_("At most {max} characters"), max=v.MAX_NOTE)
    if decision == "not_adopted" and not comment:
        raise InvalidField("comment", N_("Say why it is not adopted"))
    if report.status == decision and report.comment == comment:
        return report
    values = {"status": decision, "comment": comment, "reviewed_by": p.user_id, "reviewed_at": utcnow()}
    rules.check_fields("info_report", p.role, {k: getattr(report, k) for k in values}, values, office_workflow=True)
    changed = apply_changes(report, values)
    session.flush()
    audit_write(session, p, "review", "info_report", report.id,
                {"decision": decision, "comment": comment, "changed": sorted(changed)})
    if report.reported_by is not None:
        from common.notify.service import Audience, Notice, notify

        title = ("您报送的风险信息已被采用：" if decision == "adopted" else "您报送的风险信息未被采用：") + report.title
        notify(session, f"info_report:{report.id}:{decision}",
               Notice(kind="info_report.reviewed", title=title[:300], body=comment, link=f"/info-reports/{report.id}",
                      entity_type="info_report", entity_id=report.id),
               Audience(users=(report.reported_by,), exclude=(p.user_id,) if p.user_id else ()))
    return report


def month_range(month: str) -> tuple[Any, Any] | None:
    match = MONTH.match(month or "")
    if not match:
        return None
    year, mon = int(match.group(1)), int(match.group(2))
    if not 1 <= mon <= 12:
        return None
    from datetime import datetime, timezone

    start = datetime(year, mon, 1, tzinfo=timezone.utc)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=timezone.utc)
    return start, end


def report_query(p: Principal, status: str = "", category: str = "", region: str = "", industry: str = "",
                 month: str = "", q: str = "") -> Select[Any]:
    stmt = policy.scoped(InfoReport, p)
    if status:
        stmt = stmt.where(InfoReport.status == status)
    if category:
        stmt = stmt.where(InfoReport.category == category)
    if region:
        stmt = stmt.where(InfoReport.region_code.startswith(region.rstrip("0") or region))
    if industry:
        stmt = stmt.where(InfoReport.industry == industry)
    if (span := month_range(month)) is not None:
        stmt = stmt.where(InfoReport.created_at >= span[0], InfoReport.created_at < span[1])
    if q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(InfoReport.title.ilike(like), InfoReport.body.ilike(like), InfoReport.source.ilike(like)))
    return stmt.order_by(InfoReport.created_at.desc(), InfoReport.id.desc())


def report_out(r: InfoReport, p: Principal) -> dict[str, Any]:
    return {
        "id": str(r.id), "title": r.title, "body": r.body, "category": r.category, "region_code": r.region_code,
        "industry": r.industry, "enterprise_id": str(r.enterprise_id) if r.enterprise_id else None,
        "severity": r.risk_level, "source": r.source, "source_unit": r.source_unit, "status": r.status,
        "comment": r.comment, "reported_by": str(r.reported_by) if r.reported_by else None,
        "reviewed_at": r.reviewed_at.isoformat() if r.reviewed_at else None, "node": r.node_id,
        "version": r.version, "created_at": r.created_at.isoformat(),
    }

