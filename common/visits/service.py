"""On-site safety visits and legal-education sessions (Art. 13, 17(6))."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from common import policy
from common.i18n import N_
from common.models import Visit
from common.policy import Principal
from common.reference import HAZARD_SEVERITIES, VISIT_KINDS
from common.validation import MAX_ATTENDANCE, MAX_CHECKLIST_ANSWERS, MAX_HAZARD_TEXT, MAX_HAZARDS, check_json_size
from common.service import Problems, audit_write, choice, delete_row, optional_text, parse_datetime, update_row, visible_enterprise


def _hazards(problems: Problems, raw: Any) -> list[dict[str, str]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        problems.add("hazards", N_("Hazards must be a list"))
        return []
    hazards = []
    for item in raw:
        if isinstance(item, str):
            item = {"description": item, "severity": "medium"}
        if not isinstance(item, dict) or not str(item.get("description", "")).strip():
            problems.add("hazards", N_("Each hazard needs a description"))
            continue
        severity = item.get("severity") or "medium"
        if severity not in HAZARD_SEVERITIES:
            problems.add("hazards", N_("Not one of the allowed values"))
            continue
        description = str(item["description"]).strip()
        if len(description) > MAX_HAZARD_TEXT:
            problems.add("hazards", N_("At most {max} characters"), max=MAX_HAZARD_TEXT)
            continue
        hazards.append({"description": description, "severity": severity})
    return hazards


def clean_visit(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    problems = Problems()
    out: dict[str, Any] = {}
    present = (lambda f: f in data) if partial else (lambda f: True)  # noqa: E731
    if present("visited_at"):
        out["visited_at"] = parse_datetime(problems, data, "visited_at")
    if present("kind"):
        out["kind"] = choice(problems, data, "kind", VISIT_KINDS)
    for field, size in (("findings", 8000), ("guidance", 8000), ("visitors", 200), ("topic", 200)):
        if field in data:
            out[field] = optional_text(problems, data, field, size) or ""
    # Bounded before anything walks them: the same bounds as the API's schema (common/validation.py).
    if "hazards" in data and problems.check(check_json_size, data["hazards"], "hazards", MAX_HAZARDS):
        out["hazards"] = _hazards(problems, data["hazards"])
    if "checklist" in data and problems.check(check_json_size, data["checklist"], "checklist", MAX_CHECKLIST_ANSWERS):
        checklist = data["checklist"] or {}
        if not isinstance(checklist, dict):
            problems.add("checklist", N_("Not one of the allowed values"))
        else:
            out["checklist"] = {str(k)[:64]: bool(v) if isinstance(v, bool) else str(v)[:200] for k, v in checklist.items()}
    if data.get("attendance") not in (None, ""):
        try:
            attendance = int(data["attendance"])
            if not 0 <= attendance <= MAX_ATTENDANCE:
                raise ValueError
            out["attendance"] = attendance
        except (TypeError, ValueError):
            problems.add("attendance", N_("Must be a whole number, zero or more"))
    for field, low, high in (("latitude", -90, 90), ("longitude", -180, 180)):
        if data.get(field) not in (None, ""):
            try:
                value = float(data[field])
                if not low <= value <= high:
                    raise ValueError
                out[field] = value
            except (TypeError, ValueError):
                problems.add(field, N_("Not a valid coordinate"))
    problems.raise_if_any()
    return out


def create_visit(session: Session, p: Principal, data: dict[str, Any]) -> Visit:
    problems = Problems()
    enterprise = visible_enterprise(session, p, problems, data)
    values = problems.check(clean_visit, data, False) or {}
    problems.raise_if_any()
    policy.require_write(p, "visit", "create", enterprise.node_id)
    visit = Visit(enterprise_id=enterprise.id, node_id=enterprise.node_id, visitor_id=p.user_id, **values)
    if not visit.visitors:
        visit.visitors = p.username
    session.add(visit)
    session.flush()
    audit_write(session, p, "create", "visit", visit.id, {"enterprise_id": str(enterprise.id), "kind": visit.kind})
    return visit


def update_visit(session: Session, p: Principal, visit_id: uuid.UUID, data: dict[str, Any]) -> Visit:
    return update_row(session, p, Visit, "visit", visit_id, lambda _: clean_visit(data, partial=True))


def delete_visit(session: Session, p: Principal, visit_id: uuid.UUID) -> None:
    delete_row(session, p, Visit, "visit", visit_id)


def visit_out(v: Visit, p: Principal) -> dict[str, Any]:
    return {
        "id": str(v.id), "enterprise_id": str(v.enterprise_id), "visited_at": v.visited_at.isoformat(), "kind": v.kind,
        "visitors": v.visitors, "checklist": v.checklist, "findings": v.findings, "hazards": v.hazards,
        "guidance": v.guidance, "topic": v.topic, "attendance": v.attendance, "latitude": v.latitude,
        "longitude": v.longitude, "node": v.node_id, "version": v.version, "created_at": v.created_at.isoformat(),
    }
