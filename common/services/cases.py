"""Cases: intake, numbering, and handling through the append-only timeline (Art. 14, 17, 18)."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import Session

from common import lifecycle, policy
from common.errors import InvalidField
from common.i18n import N_
from common.models import Case, CaseEvent, CaseSequence, CaseUnit, Unit, utcnow
from common.policy import Principal
from common.reference import CATEGORIES, CHANNELS, JURISDICTIONS, URGENCIES
from common.services.base import Problems, audit_write, choice, optional_text, required_text, update_row, visible_enterprise


def next_case_number(session: Session, year: int) -> str:
    """Code of the node recording it + year + that node's own sequence: unique across the federation without asking.

    The node is the one whose database this is (`session.info["node_id"]`, set by sync's capture; the hub when
    unset). A re-enrolled spoke carries on after the highest number of its code already known.
    """
    node_id = str(session.info.get("node_id") or "hub")
    prefix = f"{node_id.upper()}-{year}-"
    bumped = session.execute(update(CaseSequence).where(CaseSequence.node_id == node_id, CaseSequence.year == year)
                             .values(last=CaseSequence.last + 1))
    if bumped.rowcount == 0:
        highest = session.scalar(select(func.max(Case.number)).where(Case.number.startswith(prefix, autoescape=True)))
        start = int(highest.rsplit("-", 1)[1]) if highest and highest.rsplit("-", 1)[1].isdigit() else 0
        session.add(CaseSequence(node_id=node_id, year=year, last=start + 1))
        session.flush()
    last = session.scalar(select(CaseSequence.last).where(CaseSequence.node_id == node_id, CaseSequence.year == year))
    return f"{prefix}{last:05d}"


def clean_case(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    problems = Problems()
    out: dict[str, Any] = {}
    present = (lambda f: f in data) if partial else (lambda f: True)  # noqa: E731
    if present("channel") and not partial:
        out["channel"] = choice(problems, data, "channel", CHANNELS)
    if present("category"):
        out["category"] = choice(problems, data, "category", CATEGORIES)
    if present("urgency"):
        out["urgency"] = choice(problems, data, "urgency", URGENCIES, required=False) or "routine"
    if present("jurisdiction"):
        out["jurisdiction"] = choice(problems, data, "jurisdiction", JURISDICTIONS, required=False) or "local"
    if present("title"):
        out["title"] = required_text(problems, data, "title", 200)
    if present("description"):
        out["description"] = optional_text(problems, data, "description", 20000) or ""
    if "details" in data:
        details = data.get("details") or {}
        if not isinstance(details, dict):
            problems.add("details", N_("Not one of the allowed values"))
        else:
            out["details"] = {str(k)[:64]: v for k, v in details.items()}
    problems.raise_if_any()
    return out


def create_case(session: Session, p: Principal, data: dict[str, Any]) -> Case:
    problems = Problems()
    # A workstation always raises for an enterprise; the office may record a call before knowing which.
    enterprise = visible_enterprise(session, p, problems, data, required=p.role == "enterprise")
    values = problems.check(clean_case, data, False) or {}
    problems.raise_if_any()
    node_id = enterprise.node_id if enterprise is not None else p.node_id
    policy.require_write(p, "case", "create", node_id)
    case = Case(node_id=node_id, enterprise_id=enterprise.id if enterprise else None, reported_by=p.user_id,
                number=next_case_number(session, utcnow().year), **values)
    session.add(case)
    session.flush()
    audit_write(session, p, "create", "case", case.id, {"number": case.number, "category": case.category})
    return case


def update_case(session: Session, p: Principal, case_id: uuid.UUID, data: dict[str, Any]) -> Case:
    return update_row(session, p, Case, "case", case_id, lambda _: clean_case(data, partial=True))


def timeline(session: Session, case_id: uuid.UUID) -> list[CaseEvent]:
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.deleted_at.is_(None))
                                .order_by(CaseEvent.at, CaseEvent.id)))


def as_record(event: CaseEvent) -> lifecycle.EventRecord:
    return lifecycle.EventRecord(kind=event.kind, unit=event.unit, note=event.note or None, satisfaction=event.satisfaction,
                                 actor_role=event.actor_role, actor_unit=event.actor_unit)


def actor_of(p: Principal) -> lifecycle.Actor:
    return lifecycle.Actor(role=p.role, unit=p.unit_id, leader=p.leader)


def case_state(session: Session, case_id: uuid.UUID) -> lifecycle.CaseState:
    return lifecycle.fold(as_record(e) for e in timeline(session, case_id))


def add_case_event(session: Session, p: Principal, case_id: uuid.UUID, data: dict[str, Any]) -> CaseEvent:
    """Check the event against the state machine; store it and refresh the case's projections, or store nothing."""
    case = policy.get_visible(session, Case, case_id, p)
    if data.get("kind") == lifecycle.EventKind.DISPATCHED and data.get("unit"):
        if session.get(Unit, data["unit"]) is None:
            raise InvalidField("unit", N_("No such police unit"))
    actor = actor_of(p)
    record = lifecycle.EventRecord.by(actor, data.get("kind") or "", unit=data.get("unit"), note=data.get("note"),
                                      satisfaction=data.get("satisfaction"))
    state = lifecycle.add_event([as_record(e) for e in timeline(session, case.id)], actor, record)
    event = CaseEvent(case_id=case.id, node_id=case.node_id, kind=str(record.kind), unit=record.unit,
                      note=record.note or "", satisfaction=record.satisfaction, actor_id=p.user_id, actor_role=p.role,
                      actor_unit=p.unit_id, actor_leader=p.leader)
    session.add(event)
    project(session, case, state)
    session.flush()
    audit_write(session, p, f"case.{record.kind}", "case", case.id, {"number": case.number, "unit": record.unit})
    return event


def project(session: Session, case: Case, state: lifecycle.CaseState) -> None:
    """Write the derived status, emergency flag and unit assignments; they are never edited any other way."""
    case.status = str(state.status)
    case.emergency = state.emergency
    case.lead_unit = state.lead_unit
    # Every node works these out from the same events: a change of them is not a new version of the case.
    if inspect(case).persistent:
        case.version = Case.version
    existing = {cu.unit_id: cu for cu in session.scalars(select(CaseUnit).where(CaseUnit.case_id == case.id))}
    for assignment in state.units:
        row = existing.get(assignment.unit) or CaseUnit(case_id=case.id, unit_id=assignment.unit)
        row.lead, row.active = assignment.lead, assignment.active
        row.signed, row.reported = assignment.signed, assignment.reported
        session.add(row)


def case_out(c: Case, p: Principal) -> dict[str, Any]:
    return {
        "id": str(c.id), "number": c.number, "enterprise_id": str(c.enterprise_id) if c.enterprise_id else None,
        "channel": c.channel, "category": c.category, "urgency": c.urgency, "jurisdiction": c.jurisdiction,
        "title": c.title, "description": c.description, "details": c.details, "status": c.status,
        "emergency": c.emergency, "lead_unit": c.lead_unit, "node": c.node_id, "version": c.version,
        "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat(),
    }


def event_out(e: CaseEvent) -> dict[str, Any]:
    return {"id": str(e.id), "case_id": str(e.case_id), "kind": e.kind, "unit": e.unit, "note": e.note,
            "satisfaction": e.satisfaction, "actor_role": e.actor_role, "actor_unit": e.actor_unit,
            "at": e.at.isoformat(), "node": e.node_id}
