"""Cases: intake, numbering, and handling through the append-only timeline (Art. 14, 17, 18)."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, inspect, or_, select, update
from sqlalchemy.orm import Session

from common.cases import lifecycle, vocabulary
from common import i18n, policy
from common.attachments.blobs import Blobs
from common.errors import Conflict, InvalidField
from common.i18n import N_
from common.models import Case, CaseEvent, CaseSequence, CaseUnit, Unit, utcnow
from common.policy import Principal
from common.reference import CATEGORIES, CHANNELS, JURISDICTIONS, URGENCIES
from common.cases import clock as case_clock_module
from common.cases import rules as case_rules
from common.validation import MAX_NOTE
from common.service import (
    Problems, audit_write, choice, enforce_rules, optional_text, required_text, update_row, visible_enterprise,
)


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


def search_cases(stmt: Select[Any], q: str | None) -> Select[Any]:
    """Cases whose number holds the term anywhere, in any case ("00001", "sc-shanghai", "2026-00001" find
    SC-SHANGHAI-2026-00001), or whose title or description does; the queue page and the API search alike."""
    term = (q or "").strip()
    if not term:
        return stmt
    return stmt.where(or_(Case.number.contains(term.upper(), autoescape=True),
                          Case.title.icontains(term, autoescape=True),
                          Case.description.icontains(term, autoescape=True)))


def clean_case(data: dict[str, Any], partial: bool, current: Case | None = None) -> dict[str, Any]:
    """The case's fields checked; `details` against the fields of its category (the new one, or `current`'s)."""
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
        category = out.get("category") or data.get("category") or (current.category if current is not None else None)
        details = problems.check(case_rules.clean_details, category, data.get("details") or {})
        if details is not None:
            # What the service itself keeps in details (the emergency plan's progress) survives a correction.
            kept = {k: v for k, v in (current.details if current is not None else {}).items() if k in case_rules.RESERVED_KEYS}
            out["details"] = {**details, **kept}
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
    enforce_rules("case_record", p, None, values)
    case = Case(node_id=node_id, enterprise_id=enterprise.id if enterprise else None, reported_by=p.user_id,
                number=next_case_number(session, utcnow().year), **values)
    session.add(case)
    session.flush()
    audit_write(session, p, "create", "case", case.id, {"number": case.number, "category": case.category})
    return case


def update_case(session: Session, p: Principal, case_id: uuid.UUID, data: dict[str, Any]) -> Case:
    return update_row(session, p, Case, "case", case_id, lambda row: clean_case(data, partial=True, current=row))


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


# The hub's own jobs write as this (the escalation job's 催办 and 督办): no account, the hub's node.
SYSTEM = Principal(user_id=None, username="system", role=vocabulary.SYSTEM, node_id="hub")

MSG_UNTIL_LATER = N_("The new date must be later than the current deadline for the report back.")


def add_case_event(session: Session, p: Principal, case_id: uuid.UUID, data: dict[str, Any]) -> CaseEvent:
    """Check the event against the state machine; store it and refresh the case's projections, or store nothing."""
    case = policy.get_visible(session, Case, case_id, p)
    return record_event(session, p, case, data)


def record_event(session: Session, p: Principal, case: Case, data: dict[str, Any], *,
                 details: dict[str, Any] | None = None, at: Any = None,
                 events: list[CaseEvent] | None = None) -> CaseEvent:
    """`add_case_event` on a case already read (the escalation job's too, as SYSTEM); `details` from the caller's
    own work (never from a request), `at` the moment it happens (now by default), `events` the case's timeline if
    the caller has just read it."""
    # Any event may name a unit (the column refers to one): an unknown one is the request's mistake, whatever the kind.
    if data.get("unit"):
        unit = session.get(Unit, data["unit"]) if isinstance(data["unit"], str) else None
        if unit is None:
            raise InvalidField("unit", N_("No such police unit"))
        if data.get("kind") == "dispatched" and not unit.active:
            # A deactivated unit keeps its past cases but takes no new one.
            raise InvalidField("unit", N_("This police unit has been deactivated."))
    if len(str(data.get("note") or "")) > MAX_NOTE:
        raise InvalidField("note", N_("At most {max} characters"), max=MAX_NOTE)
    actor = actor_of(p)
    record = lifecycle.EventRecord.by(actor, data.get("kind") or "", unit=data.get("unit"), note=data.get("note"),
                                      satisfaction=data.get("satisfaction"))
    events = timeline(session, case.id) if events is None else events
    state = lifecycle.add_event([as_record(e) for e in events], actor, record)
    at = at or utcnow()
    details = {**(details or {}), **_kind_details(session, case, events, record, data, at)}
    status_before = case.status
    event = CaseEvent(case_id=case.id, node_id=case.node_id, kind=str(record.kind), unit=record.unit,
                      note=record.note or "", satisfaction=record.satisfaction, actor_id=p.user_id, actor_role=p.role,
                      actor_unit=p.unit_id, actor_leader=p.leader, at=at, details=details)
    session.add(event)
    project(session, case, state, [*events, event], now=at)
    session.flush()
    audit_write(session, p, f"case.{record.kind}", "case", case.id, {"number": case.number, "unit": record.unit})
    from common.cases import notices

    notices.event_notices(session, case, event, p, status_before, [*events, event])
    return event


def _kind_details(session: Session, case: Case, events: list[CaseEvent], record: lifecycle.EventRecord,
                  data: dict[str, Any], at: Any) -> dict[str, Any]:
    """What the kind keeps beyond its note: a dispatch's deadlines, an extension's new date."""
    from common.cases import deadlines

    kind = str(record.kind)
    if kind == vocabulary.EventKind.DISPATCHED:
        return deadlines.at_dispatch(deadlines.current(session), case.urgency, case.category, at)
    if kind == vocabulary.EventKind.EXTENSION_REQUESTED:
        until = deadlines.parse_until(data.get("until"))
        if until is None:
            raise InvalidField("until", vocabulary.MSG_UNTIL_REQUIRED)
        clock = case_clock_module.unit_clock(record.unit or "", case.urgency, events, at)
        if until <= at or (clock is not None and until <= clock.resolve.due):
            raise InvalidField("until", MSG_UNTIL_LATER)
        return {"until": until.isoformat()}
    if kind == vocabulary.EventKind.EXTENSION_APPROVED:
        asked = next((e for e in reversed(events)
                      if e.kind == vocabulary.EventKind.EXTENSION_REQUESTED and e.unit == record.unit), None)
        until = deadlines.parse_until(data.get("until")) if data.get("until") else None
        if data.get("until") and until is None:
            raise InvalidField("until", vocabulary.MSG_UNTIL_REQUIRED)
        chosen = until.isoformat() if until else (asked.details or {}).get("until") if asked else None
        return {"until": chosen} if chosen else {}
    return {}


def project(session: Session, case: Case, state: lifecycle.CaseState, events: list[CaseEvent] | None = None,
            now: Any = None) -> None:
    """Write the derived status, emergency flag and unit assignments; they are never edited any other way.

    Each unit's deadlines come from the timeline too (its dispatch, an approved extension); when they move, the
    escalation job is told to look at the dispatch again (`next_check`)."""
    from common.cases import deadlines

    calendar = None
    case.status = str(state.status)
    case.emergency = state.emergency
    case.lead_unit = state.lead_unit
    # Every node works these out from the same events: a change of them is not a new version of the case.
    if inspect(case).persistent:
        case.version = Case.version
    if events is None:
        events = timeline(session, case.id)
    now = now or utcnow()
    existing = {cu.unit_id: cu for cu in session.scalars(select(CaseUnit).where(CaseUnit.case_id == case.id))}
    open_case = case.status in vocabulary.OPEN
    for assignment in state.units:
        row = existing.get(assignment.unit) or CaseUnit(case_id=case.id, unit_id=assignment.unit)
        row.lead, row.active = assignment.lead, assignment.active
        row.signed, row.reported = assignment.signed, assignment.reported
        clock = case_clock_module.unit_clock(assignment.unit, case.urgency, events, now)
        sign_by = clock.sign.due if clock else None
        report_by = clock.resolve.due if clock else None
        if not (open_case and assignment.active) or (assignment.signed and assignment.reported) or clock is None:
            row.next_check = None
        elif not (_same(row.sign_by, sign_by) and _same(row.report_by, report_by)):
            # A new dispatch or an approved extension: new deadlines, so new steps (the old ones' stay in the timeline).
            if calendar is None:
                calendar = deadlines.Calendar.of(deadlines.current(session))
            row.next_check = deadlines.first_check(clock, assignment.signed, assignment.reported, calendar)
        row.sign_by, row.report_by = sign_by, report_by
        # The times the statistics judge (and `unit_month` counts): set only when they change, so a projection that
        # changes nothing writes nothing.
        times = ((clock.dispatched_at, clock.sign.done_at, clock.resolve.done_at) if clock else (None, None, None))
        for name, value in zip(("dispatched_at", "signed_at", "reported_at"), times):
            if not _same(getattr(row, name), value):
                setattr(row, name, value)
        session.add(row)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return case_clock_module._aware(a) == case_clock_module._aware(b)


def case_out(c: Case, p: Principal) -> dict[str, Any]:
    return {
        "id": str(c.id), "number": c.number, "enterprise_id": str(c.enterprise_id) if c.enterprise_id else None,
        "channel": c.channel, "category": c.category, "urgency": c.urgency, "jurisdiction": c.jurisdiction,
        "title": c.title, "description": c.description,
        "details": case_rules.mask_details(c.details or {}, policy.may_reveal(p)), "status": c.status,
        "emergency": c.emergency, "lead_unit": c.lead_unit, "node": c.node_id, "version": c.version,
        "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat(),
    }


def event_out(e: CaseEvent) -> dict[str, Any]:
    details = e.details or {}
    return {"id": str(e.id), "case_id": str(e.case_id), "kind": e.kind, "unit": e.unit, "note": e.note,
            "satisfaction": e.satisfaction, "actor_role": e.actor_role, "actor_unit": e.actor_unit,
            "at": e.at.isoformat(), "node": e.node_id, "details": details, "until": details.get("until")}


# ── Several steps at once, files, the emergency plan: the pages' needs, on the same rules ──────────────────────

def dispatch_units(session: Session, p: Principal, case_id: uuid.UUID, lead: str | None, co_units: list[str]) -> list[CaseEvent]:
    """Dispatch to a lead unit and co-units in one go: each is one `dispatched` event, all recorded or none.

    The lead goes first, since the first active unit leads the case (lifecycle); with no unit at all the
    dispatch event's own check answers that a unit is required.
    """
    units = list(dict.fromkeys(u for u in [lead, *co_units] if u))
    if not units:
        units = [""]
    return [add_case_event(session, p, case_id, {"kind": vocabulary.EventKind.DISPATCHED, "unit": unit}) for unit in units]


def add_event_with_files(session: Session, p: Principal, store: Blobs, case_id: uuid.UUID, data: dict[str, Any],
                         files: list[tuple[str, str, bytes]]) -> CaseEvent:
    """An event with its documents (a report back's results, a transfer's cooperation letter), attached to it."""
    from common.attachments.service import add_attachment

    event = add_case_event(session, p, case_id, data)
    for filename, content_type, content in files:
        add_attachment(session, p, store, "case_event", event.id, filename, content_type, content)
    return event


MSG_PLAN_NOT_STARTED = N_("The emergency plan has not been started for this case.")
MSG_PLAN_STEP_DONE = N_("This step of the plan is already done.")
MSG_PLAN_CLOSED = N_("The plan's steps can only be ticked while the case is being handled.")


def complete_plan_step(session: Session, p: Principal, case_id: uuid.UUID, step: str, note: str | None) -> CaseEvent:
    """The office ticks a step of the emergency plan: kept in the case's details, told in the timeline as a comment."""
    policy.require_office(p)
    case = policy.get_visible(session, Case, case_id, p)
    if step not in case_rules.EMERGENCY_PLAN:
        raise InvalidField("step", N_("Not one of the allowed values"))
    if not case.emergency:
        raise Conflict(MSG_PLAN_NOT_STARTED)
    if case.status not in vocabulary.OPEN:
        raise Conflict(MSG_PLAN_CLOSED)
    done = dict((case.details or {}).get("plan_steps") or {})
    if step in done:
        raise Conflict(MSG_PLAN_STEP_DONE)
    label = i18n.translate(case_rules.EMERGENCY_PLAN[step], "zh_Hans")
    event = add_case_event(session, p, case.id, {"kind": vocabulary.EventKind.COMMENT,
                                                 "note": f"【{label}】{(note or '').strip()}".strip()})
    done[step] = {"at": utcnow().isoformat(), "by": p.username}
    case.details = {**(case.details or {}), "plan_steps": done}
    session.flush()
    audit_write(session, p, "case.plan_step", "case", case.id, {"number": case.number, "step": step})
    return event


def routing(session: Session) -> dict[str, dict[str, Any]]:
    """The office's routing table (which units each category usually goes to)."""
    from common.center import settings

    return settings.get(session, case_rules.ROUTING_KEY)


def case_clock(case: Case, events: list[CaseEvent], active_units: list[str], now: Any = None) -> case_clock_module.CaseClock:
    return case_clock_module.case_clock(case.urgency, case.created_at, case.status, events, active_units, now or utcnow())
