"""What the case pages show, gathered from the service: queue rows with their timers, a case with its actions."""
from __future__ import annotations

from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.cases import lifecycle, vocabulary
from common import i18n, policy
from common.errors import DomainError, InvalidField
from common.i18n import N_
from common.models import (
    Attachment,
    Case,
    CaseEvent,
    CaseUnit,
    Enterprise,
    Node,
    Unit,
    User,
)
from common.policy import Principal
from common.reference import (
    CATEGORIES,
    CHANNELS,
    JURISDICTIONS,
    URGENCIES,
    URGENCY_RANK,
)
from common.cases import rules as case_rules
from common.cases import service as cases
from common.cases.deadlines import parse_time
from common.web.errors import field_errors

QUEUE_PAGE = 30
OPEN_STATUSES = ("submitted", "accepted", "dispatched", "handling", "reported", "reopened")
STATUS_FILTER = {"open": N_("Open cases"), **{s.value: label for s, label in vocabulary.STATUS_LABELS.items()}}
SATISFACTION = {1: N_("Very dissatisfied"), 2: N_("Dissatisfied"), 3: N_("Acceptable"), 4: N_("Satisfied"),
                5: N_("Very satisfied")}
# Forms that take a note, and what the note is called there.
NOTE_LABELS = {"returned": N_("Reason for returning"), "reported": N_("Result of the handling"),
               "transferred": N_("Cooperation letter (number, police it goes to)"), "comment": N_("Comment"),
               "jwg_requested": N_("Why a joint working group is needed"), "reopened": N_("Why it is reopened"),
               "callback": N_("What the enterprise said"), "escalated": N_("Note"),
               "jwg_approved": N_("The leader's instructions"), "jwg_rejected": N_("Why it is not approved"),
               "extension_requested": N_("Why more time is needed"), "extension_approved": N_("Note"),
               "extension_rejected": N_("Why more time is refused"), "urged": N_("What the unit is asked to do"),
               "supervised": N_("What the unit's leadership is asked to do")}
# Forms that name one unit of the case (the office's decisions on extensions, 催办, 督办), and which units they offer.
UNIT_CHOICE_KINDS = ("extension_approved", "extension_rejected", "urged", "supervised")
FILE_KINDS = {"reported": N_("Documents of the handling"), "transferred": N_("Cooperation letter (scan)")}


def error_messages(exc: InvalidField) -> dict[str, str]:
    """Field → message in the page's language, for the errors shown next to each field."""
    out: dict[str, str] = {}
    for problem in field_errors(exc):
        out.setdefault(problem["field"], problem["message"])
    return out


def unit_names(session: Session) -> dict[str, str]:
    english = i18n.current_language() == "en"
    rows = session.execute(select(Unit.id, Unit.name, Unit.name_en).where(Unit.active.is_(True)).order_by(Unit.sort_order))
    return {r.id: (r.name_en or r.name) if english else r.name for r in rows}


# ── The queue ─────────────────────────────────────────────────────────────────────────────────────────────────

def queue_filters(p: Principal, q: str | None, status: str | None, category: str | None, urgency: str | None,
                  unit: str | None) -> dict[str, str]:
    """The queue's filters from the query string, with the status each role starts from."""
    if status is None:
        # The office and the units work from what is open; the enterprise follows everything it raised.
        status = "open" if p.role in ("office", "liaison") else ""
    return {"q": (q or "").strip(), "status": status, "category": category or "", "urgency": urgency or "",
            "unit": unit or ""}


def queue_query(p: Principal, filters: dict[str, str]) -> Any:
    """The cases `p` works on, filtered, most urgent first and then by due time (same urgency: oldest first)."""
    stmt = policy.scoped(Case, p)
    if p.role == "liaison":
        stmt = stmt.where(Case.id.in_(select(CaseUnit.case_id).where(CaseUnit.unit_id == p.unit_id,
                                                                      CaseUnit.active.is_(True))))
    status = filters.get("status")
    if status == "open":
        stmt = stmt.where(Case.status.in_(OPEN_STATUSES))
    elif status:
        stmt = stmt.where(Case.status == status)
    for column, key in ((Case.category, "category"), (Case.urgency, "urgency")):
        if filters.get(key):
            stmt = stmt.where(column == filters[key])
    if filters.get("unit") and p.role != "liaison":
        stmt = stmt.where(Case.id.in_(select(CaseUnit.case_id).where(CaseUnit.unit_id == filters["unit"],
                                                                      CaseUnit.active.is_(True))))
    stmt = cases.search_cases(stmt, filters.get("q"))
    rank = sql_case(URGENCY_RANK, value=Case.urgency, else_=len(URGENCY_RANK))
    return stmt.order_by(rank, Case.created_at, Case.id)


def queue_context(session: Session, p: Principal, filters: dict[str, str], offset: int) -> dict[str, Any]:
    found = list(session.scalars(queue_query(p, filters).limit(QUEUE_PAGE + 1).offset(offset)))
    rows = found[:QUEUE_PAGE]
    events = _events_by_case(session, [c.id for c in rows])
    units = _units_by_case(session, [c.id for c in rows])
    names = dict(session.execute(select(Enterprise.id, Enterprise.name)
                                 .where(Enterprise.id.in_([c.enterprise_id for c in rows if c.enterprise_id]))).all())
    unit_name = unit_names(session)
    items = []
    for c in rows:
        active = [u for u in units.get(c.id, []) if u.active]
        clock = cases.case_clock(c, events.get(c.id, []), [u.unit_id for u in active])
        mine = next((u for u in active if u.unit_id == p.unit_id), None)
        items.append({"case": c, "enterprise": names.get(c.enterprise_id, ""), "clock": clock, "mine": mine,
                      "units": [unit_name.get(u.unit_id, u.unit_id) for u in active]})
    return {"items": items, "has_more": len(found) > QUEUE_PAGE, "offset": offset, "page_size": QUEUE_PAGE,
            "filters": filters, "statuses": STATUS_FILTER, "categories": CATEGORIES, "urgencies": URGENCIES,
            "units": unit_name, "status_labels": STATUS_FILTER}


def _events_by_case(session: Session, ids: list[Any]) -> dict[Any, list[CaseEvent]]:
    out: dict[Any, list[CaseEvent]] = {}
    if ids:
        for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(ids), CaseEvent.deleted_at.is_(None))
                                 .order_by(CaseEvent.at, CaseEvent.id)):
            out.setdefault(e.case_id, []).append(e)
    return out


def _units_by_case(session: Session, ids: list[Any]) -> dict[Any, list[CaseUnit]]:
    out: dict[Any, list[CaseUnit]] = {}
    if ids:
        for u in session.scalars(select(CaseUnit).where(CaseUnit.case_id.in_(ids))):
            out.setdefault(u.case_id, []).append(u)
    return out


# ── One case ──────────────────────────────────────────────────────────────────────────────────────────────────

def case_context(session: Session, p: Principal, case: Case) -> dict[str, Any]:
    events = cases.timeline(session, case.id)
    state = lifecycle.fold(cases.as_record(e) for e in events)
    allowed = [k.value for k in lifecycle.allowed_kinds(state, cases.actor_of(p))]
    names = unit_names(session)
    clock = cases.case_clock(case, events, [u.unit for u in state.active_units])
    unit_clocks = {u.unit: u for u in clock.units}
    out = cases.case_out(case, p)
    return {
        "case": case, "out": out, "details": out["details"], "state": state, "events": _timeline_rows(session, events, names),
        "allowed": allowed, "clock": clock, "units": names,
        "unit_rows": [{"a": a, "clock": unit_clocks.get(a.unit), "name": names.get(a.unit, a.unit)} for a in state.units],
        "enterprise": session.get(Enterprise, case.enterprise_id) if case.enterprise_id else None,
        "node": session.get(Node, case.node_id), "attachments": _attachments(session, p, "case", [case.id]),
        "fields": [f for f in case_rules.fields_of(case.category) if out["details"].get(f.key) not in (None, "")],
        "plan": _plan(case, p, state), "routing": _suggestion(session, case, state),
        "categories": CATEGORIES, "channels": CHANNELS, "urgencies": URGENCIES, "jurisdictions": JURISDICTIONS,
        "status_labels": STATUS_FILTER, "satisfaction_labels": SATISFACTION, "note_labels": NOTE_LABELS,
        "file_kinds": FILE_KINDS, "kind_labels": vocabulary.KIND_LABELS, "jwg_labels": vocabulary.JOINT_GROUP_LABELS,
        "reports": [e for e in events if e.kind == "reported"],
        "unit_choices": _unit_choices(state, names, events), "parse_time": parse_time,
        "action_error": None, "failed": {}, "failed_errors": {}, "error_text": "",
    }


def _unit_choices(state: lifecycle.CaseState, names: dict[str, str], events: list[CaseEvent]) -> dict[str, list[tuple[str, str]]]:
    """The units each unit-naming form offers: those with a request for more time awaiting a decision (with the date
    asked for), those that still owe a sign-for or a report back."""
    asked = {e.unit: parse_time((e.details or {}).get("until")) for e in events if e.kind == "extension_requested"}
    pending = [(a.unit, names.get(a.unit, a.unit), asked.get(a.unit)) for a in state.units if a.active and a.extension_pending]
    owing = [(a.unit, names.get(a.unit, a.unit), None) for a in state.units if a.active and not a.reported]
    return {"extension_approved": pending, "extension_rejected": pending, "urged": owing, "supervised": owing}


def _timeline_rows(session: Session, events: list[CaseEvent], names: dict[str, str]) -> list[dict[str, Any]]:
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_({e.actor_id for e in events if e.actor_id})))}
    files: dict[Any, list[Attachment]] = {}
    for a in session.scalars(select(Attachment).where(Attachment.entity_type == "case_event", Attachment.deleted_at.is_(None),
                                                      Attachment.entity_id.in_([e.id for e in events]))):
        files.setdefault(a.entity_id, []).append(a)
    rows = []
    for e in events:
        person = people.get(e.actor_id) if e.actor_id else None
        rows.append({"e": e, "who": (person.display_name or person.username) if person else "",
                     "actor_unit": names.get(e.actor_unit or "", e.actor_unit or ""),
                     "unit": names.get(e.unit or "", e.unit or ""), "files": files.get(e.id, [])})
    return rows


def _attachments(session: Session, p: Principal, entity_type: str, ids: list[Any]) -> list[Attachment]:
    return list(session.scalars(policy.scoped(Attachment, p).where(Attachment.entity_type == entity_type,
                                                                   Attachment.entity_id.in_(ids))))


def _plan(case: Case, p: Principal, state: lifecycle.CaseState) -> dict[str, Any] | None:
    """The emergency plan's checklist with its progress; only once the plan is started."""
    if not state.emergency:
        return None
    done = (case.details or {}).get("plan_steps") or {}
    steps = [{"id": key, "label": label, "done": done.get(key)} for key, label in case_rules.EMERGENCY_PLAN.items()]
    count = sum(1 for s in steps if s["done"])
    return {"steps": steps, "done": count, "total": len(steps), "percent": round(100 * count / len(steps)),
            "editable": p.is_office and case.status in vocabulary.OPEN}


def _suggestion(session: Session, case: Case, state: lifecycle.CaseState) -> dict[str, Any]:
    """The routing table's units for this category, less those already on the case."""
    entry = cases.routing(session).get(case.category) or {}
    active = {u.unit for u in state.active_units}
    # Once a unit leads, adding more is the office's own choice: nothing is ticked for it.
    return {"lead": None if active else entry.get("lead"),
            "co": [] if active else [u for u in entry.get("co") or [] if u != entry.get("lead")],
            "has_lead": bool(active), "active": active}


def describe_error(error: DomainError) -> str:
    return i18n.gettext(getattr(error, "message", str(error)), **getattr(error, "params", {}))
