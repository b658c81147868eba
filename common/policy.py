"""One policy layer: what a role at a node may see and do, applied where every query is built."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session

from common.errors import Forbidden, NotFound
from common.i18n import N_
from common.models import (
    Attachment, AuditEntry, Bulletin, BulletinAck, BulletinAudience, BulletinReminder, Case, CaseEvent, CaseMonth, CaseUnit, Enterprise, InfoReport,
    LastVisit, Node, NodeApplication, Notification, Person, SurveyAnswer, Task, UnitCaseMonth, UnitMonth, User, Visit, VisitMonth,
)


@dataclass(frozen=True)
class Principal:
    """Who is asking: from a page session or a bearer token, the policy needs only this."""

    user_id: uuid.UUID | None
    username: str
    role: str
    node_id: str
    unit_id: str | None = None
    leader: bool = False
    # The node itself and every node below it, resolved once per request.
    subtree: frozenset[str] = field(default_factory=frozenset)
    # The node and its ancestors up to the hub (which nodes it may know of).
    lineage: frozenset[str] = field(default_factory=frozenset)
    offline: bool = False
    address: str = ""
    # The office requires a second factor of this account and it has none yet: it may only enrol one.
    needs_second_factor: bool = False

    @property
    def is_office(self) -> bool:
        return self.role == "office"


def load_principal(session: Session, user: User, offline: bool = False, address: str = "") -> Principal:
    return principal_at(session, user.id, user.username, user.role, user.node_id, user.unit_id, user.is_leader,
                        offline, address)


def principal_at(session: Session, user_id: uuid.UUID | None, username: str, role: str, node_id: str,
                 unit_id: str | None = None, leader: bool = False, offline: bool = False, address: str = "") -> Principal:
    """A principal at a node of this database's tree (a token's claims at a spoke name a person it may not store)."""
    # One query: every node whose path starts with the node's path; the shortest is the node itself.
    own_path = select(Node.path).where(Node.id == node_id).scalar_subquery()
    rows = session.execute(select(Node.id, Node.path).where(Node.path.startswith(own_path))).all()
    path = min((r.path for r in rows), key=len, default=f"/{node_id}/")
    subtree = frozenset(r.id for r in rows) | {node_id}
    lineage = frozenset(part for part in path.split("/") if part)
    return Principal(user_id, username, role, node_id, unit_id, leader, subtree, lineage, offline, address)


def in_subtree(session: Session, node_id: str, ancestor_id: str) -> bool:
    """Whether `node_id` is `ancestor_id` or below it in the node tree."""
    ancestor = select(Node.path).where(Node.id == ancestor_id).scalar_subquery()
    return session.scalar(select(Node.id).where(Node.id == node_id, Node.path.startswith(ancestor))) is not None


# --- what each role may see ------------------------------------------------------------------------------------

def _liaison_cases(p: Principal) -> ColumnElement[bool]:
    return exists().where(CaseUnit.case_id == Case.id, CaseUnit.unit_id == p.unit_id)


def _liaison_case_ids(p: Principal) -> Select[Any]:
    return select(CaseUnit.case_id).where(CaseUnit.unit_id == p.unit_id)


def _liaison_enterprise_ids(p: Principal) -> Select[Any]:
    return select(Case.enterprise_id).where(Case.id.in_(_liaison_case_ids(p)))


def _in_subtree(column: Any, p: Principal) -> ColumnElement[bool]:
    return column.in_(sorted(p.subtree))


def _enterprise_rule(p: Principal) -> ColumnElement[bool]:
    if p.is_office:
        return true()
    if p.role == "liaison":
        return Enterprise.id.in_(_liaison_enterprise_ids(p))
    return _in_subtree(Enterprise.node_id, p)


def _person_rule(p: Principal) -> ColumnElement[bool]:
    if p.is_office:
        return true()
    if p.role == "liaison":
        return Person.enterprise_id.in_(_liaison_enterprise_ids(p))
    return _in_subtree(Person.node_id, p)


def _case_rule(p: Principal) -> ColumnElement[bool]:
    if p.is_office:
        return true()
    if p.role == "liaison":
        return _liaison_cases(p)
    return _in_subtree(Case.node_id, p)


def _case_event_rule(p: Principal) -> ColumnElement[bool]:
    if p.is_office:
        return true()
    if p.role == "liaison":
        return CaseEvent.case_id.in_(_liaison_case_ids(p))
    return CaseEvent.case_id.in_(select(Case.id).where(_in_subtree(Case.node_id, p)))


def sees_visits(p: Principal) -> bool:
    """Whether `p` sees any visit at all: a liaison works on cases and sees none."""
    return p.role != "liaison"


def _visit_rule(p: Principal) -> ColumnElement[bool]:
    if p.is_office:
        return true()
    if not sees_visits(p):
        return false()
    return _in_subtree(Visit.node_id, p)


def _visit_month_rule(p: Principal) -> ColumnElement[bool]:
    # The counts of a node's visits: seen as its visits are.
    if p.is_office:
        return true()
    if not sees_visits(p):
        return false()
    return _in_subtree(VisitMonth.node_id, p)


def _case_month_rule(p: Principal) -> ColumnElement[bool]:
    # The counts of a node's cases: seen as its cases are. A liaison's cases are its unit's, not a node's: those
    # are counted per unit (`unit_case_month`).
    if p.is_office:
        return true()
    if p.role == "liaison":
        return false()
    return _in_subtree(CaseMonth.node_id, p)


def _own_unit(column: Any) -> Callable[[Principal], ColumnElement[bool]]:
    """The rule of counts kept per police unit: the office sees every unit's, a liaison its own unit's."""
    def rule(p: Principal) -> ColumnElement[bool]:
        if p.is_office:
            return true()
        if p.role == "liaison" and p.unit_id:
            return column == p.unit_id
        return false()
    return rule


def _last_visit_rule(p: Principal) -> ColumnElement[bool]:
    # One row per live enterprise, kept with the enterprise's node: seen as the enterprise is.
    if p.is_office:
        return true()
    if p.role == "liaison":
        return LastVisit.enterprise_id.in_(_liaison_enterprise_ids(p))
    return _in_subtree(LastVisit.node_id, p)


def _bulletin_rule(p: Principal) -> ColumnElement[bool]:
    if p.is_office:
        return true()
    published = Bulletin.published_at.is_not(None)
    if p.role == "liaison":
        return published
    addressed = exists().where(BulletinAudience.bulletin_id == Bulletin.id, _in_subtree(BulletinAudience.node_id, p))
    return and_(published, or_(Bulletin.for_all.is_(True), addressed))


def _bulletin_ack_rule(p: Principal) -> ColumnElement[bool]:
    return true() if p.is_office else _in_subtree(BulletinAck.node_id, p)


def _bulletin_reminder_rule(p: Principal) -> ColumnElement[bool]:
    return true() if p.is_office else _in_subtree(BulletinReminder.node_id, p)


def _application_rule(p: Principal) -> ColumnElement[bool]:
    if p.is_office:
        return true()
    if p.role == "liaison":
        return false()
    return _in_subtree(NodeApplication.node_id, p)


def _node_rule(p: Principal) -> ColumnElement[bool]:
    if p.role in ("office", "liaison"):
        return true()
    return or_(_in_subtree(Node.id, p), Node.id.in_(sorted(p.lineage)))


def _user_rule(p: Principal) -> ColumnElement[bool]:
    return true() if p.is_office else _in_subtree(User.node_id, p)


def _info_rule(p: Principal) -> ColumnElement[bool]:
    if p.is_office:
        return true()
    if p.role == "liaison":
        mine = InfoReport.reported_by == p.user_id if p.user_id is not None else false()
        return or_(InfoReport.source_unit == p.unit_id, mine) if p.unit_id else mine
    return _in_subtree(InfoReport.node_id, p)


def _task_rule(p: Principal) -> ColumnElement[bool]:
    # The office sees every task; a liaison its unit's and its own; a node's people their subtree's and their own.
    if p.is_office:
        return true()
    mine = Task.owner_user == p.user_id if p.user_id is not None else false()
    if p.role == "liaison":
        return or_(Task.owner_unit == p.unit_id, mine) if p.unit_id else mine
    return or_(_in_subtree(Task.node_id, p), mine)


def _audit_rule(p: Principal) -> ColumnElement[bool]:
    return true() if p.is_office else false()


def _notification_rule(p: Principal) -> ColumnElement[bool]:
    # A notice is its person's alone, the office's own included; a principal without an account (a node) has none.
    return Notification.user_id == p.user_id if p.user_id is not None else false()


def _attachment_rule(p: Principal) -> ColumnElement[bool]:
    # Files belong to the node that holds the row they are attached to; a liaison sees those of their unit's cases.
    # A bulletin's files belong to the office's node but are read by everyone the bulletin is addressed to.
    if p.is_office:
        return true()
    bulletin_files = _bulletin_files(p)
    if p.role == "liaison":
        case_ids = _liaison_case_ids(p)
        return or_(and_(Attachment.entity_type == "case", Attachment.entity_id.in_(case_ids)),
                   and_(Attachment.entity_type == "case_event",
                        Attachment.entity_id.in_(select(CaseEvent.id).where(CaseEvent.case_id.in_(case_ids)))),
                   and_(Attachment.entity_type == "task", Attachment.entity_id.in_(select(Task.id).where(_task_rule(p)))),
                   bulletin_files)
    return or_(_in_subtree(Attachment.node_id, p), bulletin_files)


VISIBILITY: dict[type, Callable[[Principal], ColumnElement[bool]]] = {
    Attachment: _attachment_rule,
    Enterprise: _enterprise_rule,
    Person: _person_rule,
    Case: _case_rule,
    CaseEvent: _case_event_rule,
    Visit: _visit_rule,
    LastVisit: _last_visit_rule,
    VisitMonth: _visit_month_rule,
    CaseMonth: _case_month_rule,
    # A unit's cases (a liaison's, `_liaison_cases`) and its on-time counts.
    UnitCaseMonth: _own_unit(UnitCaseMonth.unit_id),
    UnitMonth: _own_unit(UnitMonth.unit_id),
    Bulletin: _bulletin_rule,
    BulletinAck: _bulletin_ack_rule,
    BulletinReminder: _bulletin_reminder_rule,
    NodeApplication: _application_rule,
    Node: _node_rule,
    User: _user_rule,
    InfoReport: _info_rule,
    AuditEntry: _audit_rule,
    Notification: _notification_rule,
    Task: _task_rule,
    SurveyAnswer: lambda p: true() if p.is_office else _in_subtree(SurveyAnswer.node_id, p),
}


def visible(model: type, p: Principal) -> ColumnElement[bool]:
    """The WHERE clause of everything `p` may see of `model`, soft-deleted rows excluded."""
    rule = VISIBILITY[model](p)
    deleted_at = getattr(model, "deleted_at", None)
    return and_(rule, deleted_at.is_(None)) if deleted_at is not None else rule


def _bulletin_files(p: Principal) -> ColumnElement[bool]:
    return and_(Attachment.entity_type == "bulletin", Attachment.entity_id.in_(select(Bulletin.id).where(_bulletin_rule(p))))


def _attachment_sync_rule(p: Principal) -> ColumnElement[bool]:
    return true() if p.is_office else or_(_in_subtree(Attachment.node_id, p), _bulletin_files(p))


# What sync carries where it differs from what people see: a spoke holds the files of its own nodes' rows and of
# the bulletins addressed to them (held by the office's node), whatever role its people have.
# A spoke holds the notices of every person of its nodes, as it holds their other rows.
SYNC_SCOPE: dict[type, Callable[[Principal], ColumnElement[bool]]] = {
    Attachment: _attachment_sync_rule,
    Notification: lambda p: _in_subtree(Notification.node_id, p),
    # A task lives at its owner's node: a spoke holds the tasks of its nodes and of their people.
    Task: lambda p: _in_subtree(Task.node_id, p),
}


def in_scope(model: type, p: Principal) -> ColumnElement[bool]:
    """Everything of `model` within `p`'s scope, soft-deleted rows (tombstones) included: what sync carries."""
    return SYNC_SCOPE.get(model, VISIBILITY[model])(p)


def scoped(model: type, p: Principal) -> Select[Any]:
    """`select(model)` already limited to what `p` may see: every list, count and search starts here."""
    return select(model).where(visible(model, p))


def get_visible(session: Session, model: type, row_id: Any, p: Principal) -> Any:
    """One row `p` may see, or NotFound — a row of another tenant is indistinguishable from a missing one."""
    pk = model.__mapper__.primary_key[0]
    row = session.scalars(select(model).where(pk == row_id, visible(model, p))).first()
    if row is None:
        raise NotFound()
    return row


# --- what each role may change ---------------------------------------------------------------------------------

# Which roles may create / update / delete each kind of row at all; the node check comes after.
WRITERS: dict[str, dict[str, frozenset[str]]] = {
    "enterprise": {"create": frozenset({"office", "subcenter"}), "update": frozenset({"office", "subcenter", "enterprise"}),
                   "delete": frozenset({"office"})},
    "person": {"create": frozenset({"office", "subcenter", "enterprise"}), "update": frozenset({"office", "subcenter", "enterprise"}),
               "delete": frozenset({"office", "subcenter", "enterprise"})},
    "case": {"create": frozenset({"office", "subcenter", "enterprise"}), "update": frozenset({"office"}), "delete": frozenset()},
    "visit": {"create": frozenset({"office", "subcenter"}), "update": frozenset({"office", "subcenter"}),
              "delete": frozenset({"office", "subcenter"})},
    "bulletin": {"create": frozenset({"office"}), "update": frozenset({"office"}), "delete": frozenset({"office"})},
    "application": {"create": frozenset({"office", "subcenter", "enterprise"}), "update": frozenset({"office", "subcenter", "enterprise"}),
                    "delete": frozenset()},
    "node": {"create": frozenset({"office"}), "update": frozenset({"office"}), "delete": frozenset()},
    # Risk information: reported by liaison officers, sub-centers and workstations; the reporter may correct it
    # until the office reviews it (the review's fields are the office's workflow, common/rules.py).
    "info_report": {"create": frozenset({"office", "liaison", "subcenter", "enterprise"}),
                    "update": frozenset({"office", "liaison", "subcenter", "enterprise"}), "delete": frozenset()},
    # Tasks are given by the office (and its leaders); their owners only answer them (their feedback).
    "task": {"create": frozenset({"office"}), "update": frozenset({"office", "liaison", "subcenter", "enterprise"}),
             "delete": frozenset()},
    # Notices are written by the hub's own events (common/notify/service.py); their person only marks them read.
    "notification": {"create": frozenset(), "update": frozenset({"office", "liaison", "subcenter", "enterprise"}),
                     "delete": frozenset()},
    # The office sends the questionnaire (a row per workstation); only the workstation answers it.
    "survey_answer": {"create": frozenset({"office"}), "update": frozenset({"enterprise"}), "delete": frozenset()},
}


def require_write(p: Principal, resource: str, action: str, node_id: str | None = None) -> None:
    """Refuse a write the role may not make, or one aimed at a node outside the caller's subtree."""
    if p.role not in WRITERS.get(resource, {}).get(action, frozenset()):
        raise Forbidden(N_("Your role may not do this."))
    if p.offline and resource in ("bulletin", "node"):
        raise Forbidden(N_("Your role may not do this."))
    if node_id is not None and not p.is_office and node_id not in p.subtree:
        raise Forbidden(N_("This belongs to a node outside your scope."))


def may_write(p: Principal, resource: str, action: str, node_id: str | None = None) -> bool:
    """Whether require_write would let `p` make this write (a page offers only the actions it may take)."""
    try:
        require_write(p, resource, action, node_id)
    except Forbidden:
        return False
    return True


def require_office(p: Principal) -> None:
    if not p.is_office:
        raise Forbidden(N_("Only the center office may do this."))


# --- personal data ---------------------------------------------------------------------------------------------

def reveals(p: Principal, field_name: str) -> bool:
    """Whether `p` sees a personal-data field in full on a list, a page, an export or an API answer: ID numbers and
    phones never (masked to every role); seeing one in full is an act of its own (may_reveal), recorded with a reason."""
    return field_name not in ("id_number", "phone")


def is_police(p: Principal) -> bool:
    """The office and the units' liaison officers: who may know of the key-person register at all."""
    return p.role in ("office", "liaison")


def may_reveal(p: Principal) -> bool:
    """Whether `p` may ask to see a person's ID number and phone in full, with a reason (the police roles)."""
    return p.role in ("office", "liaison")
