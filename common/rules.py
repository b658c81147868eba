"""Write rules of every synced row: who may set which field, what a workflow alone sets, what the receiving node
stamps from the account, and that a row agrees with its parent. One table for the pages, the API and a sync push."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from common import validation as v
from common.i18n import N_
from common.models import Bulletin, Case, CaseEvent, Enterprise, NodeApplication, Task, Visit

# Roles that may set what only the police decide about an enterprise (its risk level, whether it is a key one).
POLICE = frozenset({"office", "liaison"})
# The kinds of an application that ask something of an existing node (its `created_node` names that node).


class RuleBroken(Exception):
    """A write a rule refuses; `rule` names the rule (for the audit trail and a sync answer), `message` is a msgid."""

    def __init__(self, rule: str, message: str, field_name: str = "") -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message
        self.field_name = field_name


@dataclass(frozen=True)
class Writer:
    """The account a write is made for, as the receiving node knows it (never as the sender says)."""

    user_id: uuid.UUID | None
    role: str
    node_id: str
    unit_id: str | None = None
    leader: bool = False


# What a case's raiser outside the police may say of it: a workstation raises through the platform, in the city's own
# jurisdiction; whether something is a mass incident (群体性事件) is the police's call.
CASE_ROLE_VALUES: Mapping[str, Mapping[str, frozenset[Any]]] = {
    "channel": {"enterprise": frozenset({"platform"})},
    "jurisdiction": {"enterprise": frozenset({"local"})},
    "urgency": {role: frozenset({"routine", "urgent", "major"}) for role in ("enterprise", "subcenter")},
}


@dataclass(frozen=True)
class RowRules:
    """The rules of one synced entity."""

    # Fields only office and liaison may set; other writers leave them at `created_as`.
    police_only: frozenset[str] = frozenset()
    # Fields their workflow sets at the hub: a new row carries `created_as`, an edit moves them only along
    # `transitions` (field -> allowed (before, after) pairs).
    workflow: frozenset[str] = frozenset()
    created_as: Mapping[str, Any] = field(default_factory=dict)
    transitions: Mapping[str, frozenset[tuple[Any, Any]]] = field(default_factory=dict)
    # Fields no edit may change once the row exists.
    fixed: frozenset[str] = frozenset()
    # When set, the only fields an edit may change (every other one is fixed).
    editable: frozenset[str] | None = None
    # The column naming the one account that may edit the row (a notice: its own person).
    owner: str | None = None
    # The values a role may give a field (field -> role -> allowed); a role not named may give any valid value.
    role_values: Mapping[str, Mapping[str, frozenset[Any]]] = field(default_factory=dict)
    # What the receiving node sets from the account on a new row.
    stamped: Callable[[Writer], dict[str, Any]] | None = None
    # The row a new or moved row hangs off (table, id): on the row's own node, unless `parent_elsewhere` (an
    # acknowledgement is the acknowledging node's, its bulletin the office's).
    parent: Callable[[Mapping[str, Any]], tuple[Any, Any] | None] | None = None
    parent_keys: frozenset[str] = frozenset()
    parent_elsewhere: bool = False
    # The most a text (characters) or a JSON list or object (entries) of this entity may hold, from any door; a text
    # or JSON column not named here gets the defaults of `size_limit`.
    sizes: Mapping[str, int] = field(default_factory=dict)


def _enterprise_of(values: Mapping[str, Any]) -> tuple[Any, Any] | None:
    enterprise_id = values.get("enterprise_id")
    return None if enterprise_id is None else (Enterprise, enterprise_id)


def _case_of(values: Mapping[str, Any]) -> tuple[Any, Any] | None:
    return Case, values.get("case_id")


# What a file may be attached to, and the table that row is in.
ATTACHMENT_OWNERS: dict[str, Any] = {"visit": Visit, "case": Case, "case_event": CaseEvent, "enterprise": Enterprise,
                                     "application": NodeApplication, "bulletin": Bulletin, "task": Task}


def _owner_of(values: Mapping[str, Any]) -> tuple[Any, Any] | None:
    model = ATTACHMENT_OWNERS.get(str(values.get("entity_type")))
    if model is None:
        raise RuleBroken("parent", N_("Not one of the allowed values"), "entity_type")
    return model, values.get("entity_id")


def _bulletin_of(values: Mapping[str, Any]) -> tuple[Any, Any] | None:
    return Bulletin, values.get("bulletin_id")


def _author(column: str) -> Callable[[Writer], dict[str, Any]]:
    return lambda w: {column: w.user_id}


RULES: dict[str, RowRules] = {
    "enterprise": RowRules(police_only=frozenset({"risk_level", "is_key"}),
                           created_as={"risk_level": "low", "is_key": False}, sizes={"notes": v.MAX_NOTE}),
    "person": RowRules(fixed=frozenset({"enterprise_id"}), parent=_enterprise_of,
                       parent_keys=frozenset({"enterprise_id"})),
    "node_application": RowRules(
        workflow=frozenset({"status", "decided_by", "decided_at", "decision_comment", "created_node"}),
        created_as={"status": "submitted", "decided_by": None, "decided_at": None, "decision_comment": "",
                    "created_node": None},
        # The applicant's only move: editing a returned application sends it back for review.
        transitions={"status": frozenset({("returned", "submitted")})},
        fixed=frozenset({"kind"}), stamped=_author("submitted_by"),
        sizes={"reason": v.MAX_LONG_TEXT, "background": v.MAX_LONG_TEXT, "decision_comment": v.MAX_NOTE}),
    "case_record": RowRules(fixed=frozenset({"number"}), stamped=_author("reported_by"), parent=_enterprise_of,
                            parent_keys=frozenset({"enterprise_id"}), role_values=CASE_ROLE_VALUES,
                            sizes={"description": v.MAX_BODY, "details": v.MAX_DETAILS}),
    "case_event": RowRules(
        stamped=lambda w: {"actor_id": w.user_id, "actor_role": w.role, "actor_unit": w.unit_id,
                           "actor_leader": bool(w.leader)},
        parent=_case_of, parent_keys=frozenset({"case_id"}), sizes={"note": v.MAX_NOTE}),
    "visit": RowRules(fixed=frozenset({"enterprise_id"}), stamped=_author("visitor_id"), parent=_enterprise_of,
                      parent_keys=frozenset({"enterprise_id"}),
                      sizes={"findings": v.MAX_LONG_TEXT, "guidance": v.MAX_LONG_TEXT, "hazards": v.MAX_HAZARDS,
                             "checklist": v.MAX_CHECKLIST_ANSWERS}),
    # Risk information: its reporter never reviews it; the office decides at the hub (adopted / not adopted, with a
    # comment). Who reported it and for which unit is what the receiving node knows of the account.
    "info_report": RowRules(
        workflow=frozenset({"status", "comment", "reviewed_by", "reviewed_at"}),
        created_as={"status": "submitted", "comment": "", "reviewed_by": None, "reviewed_at": None},
        fixed=frozenset({"reported_by", "source_unit"}),
        stamped=lambda w: {"reported_by": w.user_id, "source_unit": w.unit_id if w.role == "liaison" else None},
        parent=_enterprise_of, parent_keys=frozenset({"enterprise_id"}),
        sizes={"body": v.MAX_BODY, "comment": v.MAX_NOTE}),
    # A task is given by the office at the hub; its owner answers it: feedback, and open -> submitted. The office's
    # decisions (accept, send back, cancel) are its workflow at the hub.
    "task": RowRules(
        workflow=frozenset({"status"}), created_as={"status": "open"},
        transitions={"status": frozenset({("open", "submitted"), ("submitted", "submitted")})},
        editable=frozenset({"feedback", "feedback_at", "status"}),
        sizes={"body": v.MAX_BODY, "feedback": v.MAX_LONG_TEXT}),
    "attachment": RowRules(fixed=frozenset({"entity_type", "entity_id", "sha256", "size"}),
                           parent=_owner_of, parent_keys=frozenset({"entity_type", "entity_id"})),
    "bulletin": RowRules(),
    "bulletin_reminder": RowRules(),
    "bulletin_ack": RowRules(stamped=_author("user_id"), parent=_bulletin_of,
                             parent_keys=frozenset({"bulletin_id"}), parent_elsewhere=True),
    "audit_entry": RowRules(),
    # Written by the hub's events; its person may only mark it read, at the hub or at their spoke.
    "notification": RowRules(editable=frozenset({"read_at"}), owner="user_id"),
    # Made by the office when it sends the questionnaire; the workstation only answers it.
    "survey_answer": RowRules(editable=frozenset({"ratings", "comment", "answered_at", "answered_by"}),
                              sizes={"comment": v.MAX_NOTE, "ratings": 50, "questions": 50}),
}


def rules_for(entity: str) -> RowRules:
    """The rules of a synced entity; a new entity without rules fails here, on its first write, not silently."""
    try:
        return RULES[entity]
    except KeyError:
        raise LookupError(f"no write rules for {entity!r}: add them to common.rules.RULES") from None


# A text column without a length of its own, and a JSON column, unless the entity's `sizes` says otherwise.
DEFAULT_TEXT = v.MAX_BODY
DEFAULT_ITEMS = 200


def size_limit(entity: str, field_name: str, json: bool) -> int:
    """The most the field may hold: characters of a text, entries of a JSON list or object."""
    return rules_for(entity).sizes.get(field_name, DEFAULT_ITEMS if json else DEFAULT_TEXT)


def check_fields(entity: str, role: str, current: Mapping[str, Any] | None, values: Mapping[str, Any],
                 office_workflow: bool = False) -> None:
    """Refuse a value the writer's role may not give. `current` None: a new row. `office_workflow`: the write is the
    workflow itself (the office deciding at the hub), which sets its own fields."""
    rules = rules_for(entity)
    for name, value in values.items():
        before = rules.created_as.get(name) if current is None else current.get(name)
        if current is not None and name in rules.fixed and value != before:
            raise RuleBroken("fixed", N_("This field cannot be changed."), name)
        if current is not None and rules.editable is not None and name not in rules.editable and value != before:
            raise RuleBroken("fixed", N_("This field cannot be changed."), name)
        if name in rules.police_only and role not in POLICE and value != before:
            raise RuleBroken("police_only", N_("Only the police may set this."), name)
        allowed = rules.role_values.get(name, {}).get(role)
        if allowed is not None and value not in allowed and value != before:
            raise RuleBroken("role_value", N_("Your role may not give this value."), name)
        if name in rules.workflow and not office_workflow and value != before:
            if entity == "node_application" and name == "created_node" and current is None:
                continue  # a request about a node names it; whether the node may be named is checked with the scope
            if (before, value) not in rules.transitions.get(name, frozenset()):
                raise RuleBroken("workflow", N_("Only its workflow sets this."), name)


def check_owner(entity: str, writer: Writer, current: Mapping[str, Any]) -> None:
    """Refuse an edit of a row that belongs to another account (a notice is read only by its own person)."""
    rules = rules_for(entity)
    if rules.owner is not None and str(current.get(rules.owner)) != str(writer.user_id):
        raise RuleBroken("owner", N_("Only its own person may change this."), rules.owner)


def stamp(entity: str, writer: Writer) -> dict[str, Any]:
    """The fields the receiving node sets on a new row from the account that wrote it."""
    rules = rules_for(entity)
    return rules.stamped(writer) if rules.stamped is not None else {}


ParentNodes = dict[tuple[Any, str], "str | None"]


def parent_nodes(session: Session, entity: str, rows: list[Mapping[str, Any]]) -> ParentNodes:
    """The nodes of the parents of many rows, read in one query per parent table (a sync batch's rows)."""
    rules = rules_for(entity)
    wanted: dict[Any, set[Any]] = {}
    for row in rows:
        try:
            parent = rules.parent(row) if rules.parent is not None else None
        except RuleBroken:
            continue
        if parent is not None and parent[1] is not None:
            wanted.setdefault(parent[0], set()).add(parent[1])
    found: ParentNodes = {}
    for model, ids in wanted.items():
        for start in range(0, len(ids), 500):
            chunk = sorted(ids, key=str)[start:start + 500]
            found.update(((model, str(row_id)), node) for row_id, node in
                         session.execute(select(model.id, model.node_id).where(model.id.in_(chunk))))
    return found


def check_parent(session: Session, entity: str, row: Mapping[str, Any], changed: Mapping[str, Any] | None = None,
                 known: ParentNodes | None = None) -> None:
    """A row's node must be its parent's (a person is where its enterprise is, a file where the row it belongs to
    is). `changed`: for an edit, the fields it changes (checked only when the node or the parent changes);
    `known`: parents' nodes read beforehand (see parent_nodes)."""
    rules = rules_for(entity)
    if rules.parent is None:
        return
    if changed is not None and "node_id" not in changed and not (rules.parent_keys & set(changed)):
        return
    parent = rules.parent(row)
    if parent is None:
        return
    model, parent_id = parent
    key = (model, str(parent_id))
    if known is not None and key in known:
        parent_node = known[key]
    else:
        parent_node = session.scalar(select(model.node_id).where(model.id == parent_id)) if parent_id is not None else None
    if parent_node is None:
        raise RuleBroken("parent", N_("The row this belongs to does not exist."), next(iter(sorted(rules.parent_keys))))
    if not rules.parent_elsewhere and parent_node != row.get("node_id"):
        raise RuleBroken("parent", N_("This row's node is not the node of the row it belongs to."), "node_id")
