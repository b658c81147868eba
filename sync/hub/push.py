"""A spoke's pushed batch applied at the hub: each row checked, merged field by field, answered once per batch."""
from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from typing import Any, Iterable

import msgspec
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from common.audit import trail as audit
from common import rules
from common.models import Case, SyncBatch, User
from common.policy import Principal
from common.cases import service as case_service
from sync import bulk
from sync.entities import BY_NAME, RANK, Entity
from sync.hub.arrivals import tell_arrivals
from sync.hub.merge import PushMerge
from sync.hub.peers import peer
from sync.hub.push_checks import PushChecks
from sync.hub.rows import RowRefused
from sync.wire import Change, PushAnswer, PushBatch, Rejected


class BatchApply(PushChecks, PushMerge):
    """One batch being applied: the rows it touches are read once, written in bulk per entity."""

    def __init__(self, session: Session, spoke: Principal, hub_node: str) -> None:
        self.session = session
        self.spoke = spoke
        self.hub_node = hub_node
        # The rows the hub now holds exactly as the spoke does: the spoke takes their stamps (see PushAnswer.stamps)
        # and its pulls skip them.
        self.stamps: list[list[Any]] = []
        self.applied = 0
        self.conflicts = 0
        self.rejected: list[Rejected] = []
        self.touched_cases: set[uuid.UUID] = set()
        self.users: dict[uuid.UUID, Any] = {}  # the writers' rows: id, active, deleted_at, node, role, unit, leader
        self.rewrites: dict[uuid.UUID, dict[str, Any]] = {}  # rows merged, written together per entity
        self.rewritten: set[str] = set()  # the fields a merge changed in any of them
        self.case_enterprises: dict[uuid.UUID, uuid.UUID | None] = {}
        # Moves of an enterprise by this spoke that lost to a later one at merge: (enterprise id, the node it lost).
        self.lost_moves: set[tuple[uuid.UUID, str]] = set()
        self.parents: rules.ParentNodes = {}

    def load_actors(self, changes: Iterable[Change]) -> None:
        ids = set()
        for change in changes:
            try:
                if change.actor:
                    ids.add(uuid.UUID(change.actor))
            except ValueError:
                continue
        if ids:
            # Only what the checks read (check_actor), as rows: no ORM objects to build and track for a batch.
            self.users = {u.id: u for u in self.session.execute(
                select(User.id, User.active, User.deleted_at, User.node_id, User.role, User.unit_id, User.is_leader)
                .where(User.id.in_(ids)))}

    def run(self, batch: PushBatch) -> None:
        by_entity: dict[str, list[Change]] = defaultdict(list)
        for change in batch.changes:
            by_entity[change.entity].append(change)
        self.load_actors(batch.changes)
        for name in sorted(by_entity, key=lambda n: RANK.get(n, len(RANK))):
            entity = BY_NAME.get(name)
            if entity is None or not entity.push:
                for change in by_entity[name]:
                    self.refuse(change, "this kind of row is not accepted from a spoke")
                continue
            self.apply_entity(entity, by_entity[name])
        for case_id in self.touched_cases:
            case = self.session.get(Case, case_id)
            if case is not None:
                case_service.project(self.session, case, case_service.case_state(self.session, case_id))

    def refuse(self, change: Change, reason: str, rule: str = "") -> None:
        self.rejected.append(Rejected(change.entity, str(change.id)[:64], reason))
        detail = {"reason": reason, "node": self.spoke.node_id, "actor": change.actor}
        if rule:
            detail["rule"] = rule
        audit.record(self.session, self.hub_node, "security.sync_rejected", actor=self.spoke.username[:64],
                     entity_type=str(change.entity)[:32], entity_id=str(change.id)[:64], detail=detail)

    def apply_entity(self, entity: Entity, changes: list[Change]) -> None:
        table = entity.table
        ids: dict[str, uuid.UUID] = {}
        for change in changes:
            try:
                ids[change.id] = uuid.UUID(change.id)
            except (ValueError, TypeError):
                pass
        # Locked as read: the merge writes back what it read of each row (the fields it changed, versions and field
        # versions) in one statement per entity, so nothing may change them in between.
        existing = {row["id"]: row for row in bulk.rows_by_ids(self.session, table, list(ids.values()), lock=True,
                                                                columns=_merge_columns(entity, changes))}
        inserts: list[dict[str, Any]] = []
        inserted: set[uuid.UUID] = set()
        # The nodes of the rows these hang off (their enterprise, case, …), read once for the batch's parent rule.
        self.parents = rules.parent_nodes(self.session, entity.name, [_parent_keys(entity, change.values, existing.get(
            ids.get(change.id))) for change in changes])
        for change in changes:
            row_id = ids.get(change.id)
            try:
                if row_id is None:
                    raise RowRefused("malformed id")
                values = entity.decode(change.values, strict=True)
                current = existing.get(row_id)
                if change.made:
                    if current is not None or row_id in inserted:
                        # Made here before (its answer was lost): only the edits made at the spoke since then count,
                        # each field against the version it had when made.
                        edited = {name: values[name] for name in change.fv if name in values and name in entity.fields}
                        if edited and current is not None:
                            again = Change(change.entity, change.id, edited, fv={n: change.fv[n] for n in edited},
                                           prior={n: None for n in edited}, actor=change.actor)
                            self.check_edit(entity, again, current, edited)
                            self.merge(entity, again, row_id, current, edited)
                        self.applied += 1
                        continue
                    row = self.check_made(entity, change, row_id, values)
                    inserts.append(row)
                    inserted.add(row_id)
                elif self.moved_away(entity, row_id, current):
                    self.keep_for_review(entity, change, row_id, current, values)
                elif self.follows_a_lost_move(entity, change, current, values):
                    # Where the row is stays the hub's (its enterprise's); any other field it changed merges.
                    values = {name: value for name, value in values.items() if name != "node_id"}
                    if values:
                        self.check_edit(entity, change, current, values)
                        self.merge(entity, change, row_id, current, values)
                else:
                    self.check_edit(entity, change, current, values)
                    self.merge(entity, change, row_id, current, values)
                self.applied += 1
            except RowRefused as refused:
                self.refuse(change, str(refused), refused.rule)
            except (ValueError, TypeError, KeyError) as exc:
                self.refuse(change, f"malformed row: {exc}"[:200])
        self.write_merged(entity, existing)
        if inserts:
            bulk.insert_rows(self.session, table, inserts)
            if entity.name == "case_event":
                self.touched_cases.update(row["case_id"] for row in inserts)

    # --- the checks: scope and the writer's role --------------------------------------------------------------


# What the checks and the merge read of a row held here besides the fields the changes carry: where it is, whether
# deleted, its versions, and what names the file it belongs to (see BatchApply.file_enterprise).
_MERGE_READS = frozenset({"id", "node_id", "deleted_at", "field_versions", "version", "pushed_by", "pushed_version",
                          "entity_type", "entity_id", "case_id", "enterprise_id"})


def _parent_keys(entity: Entity, sent: dict[str, Any], held: Any) -> dict[str, Any]:
    """What names a pushed row's parent: as sent, else as held here (an edit that does not move it)."""
    keys = rules.rules_for(entity.name).parent_keys
    out = {name: held[name] for name in keys if held is not None and name in held}
    for name in keys:
        if name in sent:
            value = sent[name]
            try:
                out[name] = uuid.UUID(str(value)) if name.endswith("_id") and value is not None else value
            except ValueError:
                out[name] = None
    return out


def _merge_columns(entity: Entity, changes: list[Change]) -> tuple[str, ...]:
    """The columns of `entity` a batch's changes are checked and merged with: a batch of edits to two fields reads
    (and converts, and writes back) those two, not the whole row."""
    carried = {name for change in changes for name in change.values}
    owner = rules.rules_for(entity.name).owner  # whose row it is, for the owner rule (a notice's person)
    return tuple(c.name for c in entity.table.columns if c.name in carried or c.name in _MERGE_READS or c.name == owner)



_BATCHES = SyncBatch.__table__


def apply_push(session: Session, spoke: Principal, batch: PushBatch, hub_node: str) -> PushAnswer:
    """Apply one batch in the caller's transaction; a batch seen before gets its first answer again."""
    key = hashlib.sha256(f"{spoke.node_id}\0{batch.batch_id}".encode()).hexdigest()
    # The batch record as a row, not an ORM object (read on every push, written once each).
    seen = session.execute(select(_BATCHES.c.answer).where(_BATCHES.c.id == key)).first()
    if seen is not None:
        answer = msgspec.convert(seen.answer, PushAnswer)
        answer.duplicate = True
        return answer
    work = BatchApply(session, spoke, hub_node)
    work.run(batch)
    tell_arrivals(session, batch.changes, work.rejected)
    answer = PushAnswer(batch.batch_id, work.applied, work.conflicts, work.rejected, batch.upto, stamps=work.stamps)
    session.execute(insert(_BATCHES), {"id": key, "node_id": spoke.node_id, "answer": msgspec.to_builtins(answer)})
    state = peer(session, spoke.node_id)
    state.pushed_total += work.applied
    state.rejected_total += len(work.rejected)
    return answer
