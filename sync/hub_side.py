"""The hub's side of sync: apply a spoke's batch (checked, merged field by field), serve its scope, compare digests."""
from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from functools import lru_cache
from typing import Any, Iterable

import msgspec
from sqlalchemy import BigInteger, Text, Uuid, and_, cast, func, insert, literal, literal_column, or_, select, tuple_, union_all
from sqlalchemy.orm import Session

from common.audit import trail as audit
from common.cases import lifecycle
from common import policy, rules
from common.clock import clock
from common.models import (
    Attachment, Bulletin, BulletinAudience, Case, CaseEvent, Enterprise, Node, Setting, SyncBatch, SyncConflict, SyncMark,
    SyncMove, SyncPeer, User, Visit, utcnow,
)
from common.policy import WRITERS, Principal
from common.cases import service as case_service
from common.federation.service import NODE_REQUESTS
from common.roster.service import move_file
from sync import bulk
from sync.entities import BY_NAME, ENTITIES, HUB_ONLY, RANK, Entity
from sync.wire import Change, Drop, PullAnswer, PullRow, PushAnswer, PushBatch, Rejected

CHECKSUM_MODULUS = 2_147_483_647
ZERO_ID = uuid.UUID(int=0)
# After every row of a version (the position of rows known only by their newest version: see marks_and_conflicts).
MAX_ID = uuid.UUID(int=2**128 - 1)
APPEND_ONLY_ROLES = {"office", "liaison", "subcenter", "enterprise"}
# Rows that follow their enterprise when it moves to another node, though their writers may not move them otherwise.
FOLLOWERS = frozenset({"case_record", "case_event"})
# Rows of an enterprise's file: they go where it goes (common/roster/service.py move_file).
FILE = frozenset({"person", "visit", "info_report", "case_record", "case_event", "attachment"})


class RowRefused(Exception):
    """A pushed row the hub will not apply; `reason` goes back to the spoke and into the audit trail, with the name
    of the write rule it broke where one did (common/rules.py)."""

    def __init__(self, reason: str, rule: str = "") -> None:
        super().__init__(reason)
        self.rule = rule


def spoke_principal(session: Session, node_id: str) -> Principal:
    """The scope of a spoke: its node and every node below it."""
    return policy.principal_at(session, None, f"node:{node_id}", "spoke", node_id)


def peer(session: Session, node_id: str) -> SyncPeer:
    """A spoke's peer row, locked: read once per transaction (a push notes the batch, the protocol and the page)."""
    transaction = session.get_transaction()
    held = session.info.get("sync_peers")
    if held is None or held[0] is not transaction:
        held = session.info["sync_peers"] = (transaction, {})
    row = held[1].get(node_id)
    if row is None:
        row = session.get(SyncPeer, node_id, with_for_update=True)
        if row is None:
            row = SyncPeer(node_id=node_id, last_error="", pushed_total=0, pulled_total=0, rejected_total=0, queued=0,
                           lag_seconds=0.0, cursor=0, protocol=0, schema="")
            session.add(row)
        held[1][node_id] = row
    row.last_seen_at = utcnow()
    return row


# --- push -------------------------------------------------------------------------------------------------------

class _Apply:
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

    def check_scope(self, entity: Entity, node_id: Any) -> None:
        if entity.name == "audit_entry":
            if node_id != self.spoke.node_id:
                raise RowRefused("an audit entry of another node")
        elif node_id not in self.spoke.subtree:
            raise RowRefused("outside the node's scope")

    def check_actor(self, entity: Entity, change: Change, action: str, values: dict[str, Any]) -> rules.Writer | None:
        """The account that wrote the change, as the hub knows it (None for the node's own audit trail)."""
        if entity.name == "audit_entry":
            return None  # the node's own trail, written by the node itself
        try:
            user = self.users.get(uuid.UUID(str(change.actor))) if change.actor else None
        except ValueError:
            user = None
        if user is None or not user.active or user.deleted_at is not None:
            raise RowRefused("written by no known person")
        if user.node_id not in self.spoke.subtree:
            raise RowRefused("written by a person of another node")
        if entity.resource is not None:
            if user.role not in WRITERS.get(entity.resource, {}).get(action, frozenset()):
                raise RowRefused(f"the writer's role may not {action} this")
        elif entity.name == "case_event":
            actor = lifecycle.Actor(user.role, user.unit_id, bool(user.is_leader))
            if str(values.get("kind")) not in {str(k) for k in lifecycle.actor_kinds(actor)}:
                raise RowRefused("the writer's role may not add this kind of event")
        elif user.role not in APPEND_ONLY_ROLES:
            raise RowRefused("the writer's role may not do this")
        return rules.Writer(user.id, user.role, user.node_id, user.unit_id, bool(user.is_leader))

    def check_rules_made(self, entity: Entity, change: Change, writer: rules.Writer,
                         values: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The write rules of a new row (common/rules.py), as the API applies them; what the hub sets from the account
        replaces what was sent. Whether anything sent was replaced: then the row goes back to the spoke as stamped."""
        try:
            rules.check_fields(entity.name, writer.role, None, values)
            if entity.name == "node_application" and values.get("created_node") is not None:
                if values.get("kind") not in NODE_REQUESTS or values["created_node"] not in self.spoke.subtree:
                    raise rules.RuleBroken("workflow", "Only its workflow sets this.", "created_node")
            stamped = rules.stamp(entity.name, writer)
            followed = self.parent_node_in_scope(entity, values)
            if followed is not None:
                stamped["node_id"] = followed
            replaced = sorted(name for name, value in stamped.items() if name in values and values[name] != value)
            values = {**values, **stamped}
            rules.check_parent(self.session, entity.name, values, known=self.parents)
            if entity.name == "bulletin_ack" and not self.addressed(values):
                raise rules.RuleBroken("parent", "No such bulletin", "bulletin_id")
        except rules.RuleBroken as broken:
            raise RowRefused(f"rule {broken.rule}: {broken.field_name}", broken.rule) from None
        if replaced:
            audit.record(self.session, self.hub_node, "security.sync_stamped", actor=self.spoke.username[:64],
                         entity_type=entity.name[:32], entity_id=str(change.id)[:64],
                         detail={"node": self.spoke.node_id, "actor": change.actor, "fields": replaced})
        return values, bool(replaced)

    def parent_node_in_scope(self, entity: Entity, values: dict[str, Any]) -> str | None:
        """Where a new row of an enterprise's file goes when its parent moved within the spoke's scope before the
        row arrived (made offline at the old node): to its parent's node, as the move took the rest of the file."""
        if entity.name not in FILE:
            return None
        parent = rules.rules_for(entity.name).parent
        try:
            key = parent(values) if parent is not None else None
        except rules.RuleBroken:
            return None
        if key is None:
            return None
        node = self.parents.get((key[0], str(key[1])))
        return node if node is not None and node != values.get("node_id") and node in self.spoke.subtree else None

    def addressed(self, values: dict[str, Any]) -> bool:
        """Whether the bulletin an acknowledgement is for was published to the acknowledging node."""
        node = str(values.get("node_id"))
        reader = Principal(None, "", "enterprise", node, subtree=frozenset({node}), lineage=frozenset({node}))
        return self.session.scalar(select(Bulletin.id).where(Bulletin.id == values.get("bulletin_id"),
                                                             policy.visible(Bulletin, reader))) is not None

    def check_made(self, entity: Entity, change: Change, row_id: uuid.UUID, values: dict[str, Any]) -> dict[str, Any]:
        node_id = values.get("node_id")
        self.check_scope(entity, node_id)
        writer = self.check_actor(entity, change, "create", values)
        replaced = False
        if writer is not None:
            values, replaced = self.check_rules_made(entity, change, writer, values)
        now = utcnow()
        row = {column: values[column] for column in entity.columns if column in values}
        row.update(id=row_id, version=clock.now(), field_versions=_clean_versions(change.fv),
                   updated_at=now)
        row.setdefault("created_at", now)
        for name in entity.derived:
            row.pop(name, None)  # worked out here from the events, whatever the spoke thought
        if "pushed_by" in entity.table.c:
            # A row the hub changed from what was sent is not the spoke's copy: it goes back to the spoke on its pull.
            row.update(pushed_by=None if replaced else self.spoke.node_id, pushed_version=None if replaced else row["version"])
            if not replaced:
                self.stamps.append([entity.name, str(row_id), row["version"], now.isoformat()])
        return row

    def check_edit(self, entity: Entity, change: Change, current: Any, values: dict[str, Any]) -> None:
        if entity.name in FOLLOWERS and current is not None and set(values) == {"node_id"}:
            # A case or its event going to the node its enterprise went to: the move of the enterprise's whole file
            # (common/roster/service.py), allowed to whoever may move the enterprise, within the spoke's scope.
            self.check_scope(entity, current["node_id"])
            self.check_scope(entity, values["node_id"])
            if values["node_id"] == self.enterprise_node(entity, current):
                self.check_actor(BY_NAME["enterprise"], change, "update", values)
                return
        if entity.append_only:
            raise RowRefused("append-only: it cannot be changed")
        if current is None:
            raise RowRefused("an edit of a row the hub does not have")
        self.check_scope(entity, current["node_id"])
        if "node_id" in values:
            self.check_scope(entity, values["node_id"])
        unknown = [name for name in values if name not in entity.fields]
        if unknown:
            raise RowRefused(f"fields that cannot be edited: {', '.join(unknown)}")
        action = "delete" if values.get("deleted_at") is not None and current["deleted_at"] is None else "update"
        writer = self.check_actor(entity, change, action, values)
        if writer is not None:
            try:
                rules.check_fields(entity.name, writer.role, current, values)
                rules.check_parent(self.session, entity.name, {**current, **values}, changed=values, known=self.parents)
            except rules.RuleBroken as broken:
                raise RowRefused(f"rule {broken.rule}: {broken.field_name}", broken.rule) from None

    def moved_away(self, entity: Entity, row_id: uuid.UUID, current: Any) -> bool:
        """Whether the row was in the spoke's scope and has been moved out of it (the office gave an enterprise to
        another sub-center while the spoke, not yet told, went on editing it)."""
        if current is None or current["node_id"] in self.spoke.subtree:
            return False
        return self.session.scalar(select(SyncMove.seq).where(
            SyncMove.entity == entity.name, SyncMove.row_id == str(row_id),
            SyncMove.from_node.in_(sorted(self.spoke.subtree))).limit(1)) is not None

    def keep_for_review(self, entity: Entity, change: Change, row_id: uuid.UUID, current: Any,
                        values: dict[str, Any]) -> None:
        """An edit made at the spoke before it learned that the row left its scope: not applied (the row is another
        node's now) and not lost either: each changed field is kept in a conflict record for the office to decide."""
        unknown = [name for name in values if name not in entity.fields]
        if unknown:
            raise RowRefused(f"fields that cannot be edited: {', '.join(unknown)}")
        if entity.name in FILE:
            # Where a row of an enterprise's file is follows the enterprise: the enterprise's own move is what is
            # kept for the office (resolved, its file moves with it).
            values = {name: value for name, value in values.items() if name != "node_id"}
            if not values:
                return
        if entity.append_only:
            raise RowRefused("append-only: it cannot be changed")
        action = "delete" if values.get("deleted_at") is not None and current["deleted_at"] is None else "update"
        writer = self.check_actor(entity, change, action, values)
        if writer is not None:
            try:
                rules.check_fields(entity.name, writer.role, current, values)
            except rules.RuleBroken as broken:
                raise RowRefused(f"rule {broken.rule}: {broken.field_name}", broken.rule) from None
        versions = current["field_versions"] or {}
        kept: list[str] = []
        for name, value in values.items():
            incoming = _version(change.fv.get(name))
            if incoming is None:
                raise RowRefused(f"no version for field {name}")
            if current[name] == value or _version(versions.get(name)) == incoming:
                continue
            kept.append(name)
            self.conflicts += 1
            self.session.add(SyncConflict(entity=entity.name, row_id=str(row_id), field=name, node_id=current["node_id"],
                                          kept_value=_jsonable(current[name]),
                                          kept_by=list(_version(versions.get(name)) or (0, "")),
                                          other_value=_jsonable(value), other_by=list(incoming)))
        if kept:
            # In the trail too: a spoke wrote to a row no longer in its scope (applied only if the office so decides).
            audit.record(self.session, self.hub_node, "sync.kept_for_review", actor=self.spoke.username[:64],
                         entity_type=entity.name, entity_id=str(row_id),
                         detail={"node": self.spoke.node_id, "actor": change.actor, "fields": sorted(kept),
                                 "now_at": current["node_id"]})

    def follows_a_lost_move(self, entity: Entity, change: Change, current: Any, values: dict[str, Any]) -> bool:
        """Whether a row of an enterprise's file goes where this spoke moved the enterprise, a move that lost to a
        later one at merge (the office gave it elsewhere meanwhile): the file stays with the enterprise as merged,
        and the spoke's move is the enterprise's conflict record for the office, not one more per row of its file
        (nor a refusal). Checked as the enterprise's move: its writer may move it, both nodes in the scope."""
        target = values.get("node_id")
        if entity.name not in FILE or current is None or target is None or target == current["node_id"]:
            return False
        enterprise_id = self.file_enterprise(entity, current)
        if enterprise_id is None or not self.move_lost(enterprise_id, target):
            return False
        self.check_scope(entity, current["node_id"])
        self.check_scope(entity, target)
        self.check_actor(BY_NAME["enterprise"], change, "update", values)
        return True

    def move_lost(self, enterprise_id: uuid.UUID, node_id: str) -> bool:
        if (enterprise_id, node_id) in self.lost_moves:
            return True
        for other_value, other_by in self.session.execute(
                select(SyncConflict.other_value, SyncConflict.other_by).where(
                    SyncConflict.entity == "enterprise", SyncConflict.row_id == str(enterprise_id),
                    SyncConflict.field == "node_id")):
            by = _version(other_by)
            if other_value == node_id and by is not None and by[1] in self.spoke.subtree:
                self.lost_moves.add((enterprise_id, node_id))
                return True
        return False

    def file_enterprise(self, entity: Entity, current: Any) -> uuid.UUID | None:
        """The enterprise whose file a row belongs to (for a file attached to a row of it, that row's)."""
        if entity.name == "attachment":
            kind, owner = current["entity_type"], current["entity_id"]
            if kind == "enterprise":
                return owner
            model = {"visit": Visit, "case": Case}.get(kind)
            if model is not None:
                return self.session.scalar(select(model.enterprise_id).where(model.id == owner))
            if kind == "case_event":
                return self.session.scalar(select(Case.enterprise_id).join(CaseEvent, CaseEvent.case_id == Case.id)
                                           .where(CaseEvent.id == owner))
            return None
        if entity.name == "case_event":
            case_id = current["case_id"]
            if case_id not in self.case_enterprises:
                self.case_enterprises[case_id] = self.session.scalar(select(Case.enterprise_id).where(Case.id == case_id))
            return self.case_enterprises[case_id]
        return current["enterprise_id"]

    def enterprise_node(self, entity: Entity, current: Any) -> str | None:
        """The node the enterprise of a case (or of an event's case) is at now, as this batch left it."""
        enterprise_id = self.file_enterprise(entity, current)
        if enterprise_id is None:
            return None
        return self.session.scalar(select(Enterprise.node_id).where(Enterprise.id == enterprise_id))

    # --- the merge ----------------------------------------------------------------------------------------------

    def merge(self, entity: Entity, change: Change, row_id: uuid.UUID, current: Any, values: dict[str, Any]) -> None:
        versions: dict[str, Any] = dict(current["field_versions"] or {})
        prior = change.prior or {}
        updates: dict[str, Any] = {}
        for name, value in values.items():
            incoming = _version(change.fv.get(name))
            if incoming is None:
                raise RowRefused(f"no version for field {name}")
            mine = _version(versions.get(name))
            if mine == incoming:
                continue  # applied before
            if mine == _version(prior.get(name)) or (mine is not None and mine[1] == incoming[1] and mine < incoming):
                # On top of what the hub holds, or of the same node's own earlier edit (one whose answer was lost).
                updates[name], versions[name] = value, list(incoming)
                continue
            # Written on two nodes since they last agreed: the later write wins, then the greater node id.
            here = current[name]
            if here == value:
                versions[name] = list(max(incoming, mine or (0, "")))
                continue
            self.conflicts += 1
            if incoming > (mine or (0, "")):
                updates[name], versions[name] = value, list(incoming)
                kept, kept_by, other, other_by = value, incoming, here, mine
            else:
                kept, kept_by, other, other_by = here, mine, value, incoming
                if entity.name == "enterprise" and name == "node_id":
                    self.lost_moves.add((row_id, value))
            self.session.add(SyncConflict(entity=entity.name, row_id=str(row_id), field=name,
                                          node_id=values.get("node_id", current["node_id"]),
                                          kept_value=_jsonable(kept), kept_by=list(kept_by or (0, "")),
                                          other_value=_jsonable(other), other_by=list(other_by or (0, ""))))
        if versions == (current["field_versions"] or {}) and not updates:
            return
        version = clock.now()
        old_node = current["node_id"]
        current.update(updates, field_versions=versions, version=version, updated_at=utcnow())
        self.rewritten.update(updates)
        if "pushed_by" in current:
            # The spoke holds the merged row exactly when its whole row's field versions are the merged ones.
            whole = change.row_fv is not None and _clean_versions(change.row_fv) == versions
            current.update(pushed_by=self.spoke.node_id if whole else None, pushed_version=version if whole else None)
            if whole:
                self.stamps.append([entity.name, str(row_id), version, current["updated_at"].isoformat()])
        self.rewrites[row_id] = current
        new_node = updates.get("node_id")
        if new_node is not None and new_node != old_node:
            self.session.add(SyncMove(entity=entity.name, row_id=str(row_id), from_node=old_node,
                                      to_node=new_node, version=version))

    def write_merged(self, entity: Entity, existing: dict[uuid.UUID, dict[str, Any]]) -> None:
        """The merged rows of one entity, written in one statement: the fields a merge changed in any of them (each
        row read with them, locked), their field versions, version and time."""
        if not self.rewrites:
            return
        rows = list(self.rewrites.values())
        changed, self.rewrites, self.rewritten = self.rewritten, {}, set()
        names = [*(name for name in entity.fields if name in changed), "field_versions", "version", "updated_at"]
        if "pushed_by" in entity.table.c:
            names += ["pushed_by", "pushed_version"]
        bulk.update_rows(self.session, entity.table, rows, names)


# What the checks and the merge read of a row held here besides the fields the changes carry: where it is, whether
# deleted, its versions, and what names the file it belongs to (see _Apply.file_enterprise).
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
    return tuple(c.name for c in entity.table.columns if c.name in carried or c.name in _MERGE_READS)


def _version(value: Any) -> tuple[int, str] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], int):
        return (value[0], str(value[1]))
    return None


def _clean_versions(fv: dict[str, Any]) -> dict[str, Any]:
    return {name: list(v) for name, value in (fv or {}).items() if (v := _version(value)) is not None}


def _jsonable(value: Any) -> Any:
    return msgspec.to_builtins(value)


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
    work = _Apply(session, spoke, hub_node)
    work.run(batch)
    answer = PushAnswer(batch.batch_id, work.applied, work.conflicts, work.rejected, batch.upto, stamps=work.stamps)
    session.execute(insert(_BATCHES), {"id": key, "node_id": spoke.node_id, "answer": msgspec.to_builtins(answer)})
    state = peer(session, spoke.node_id)
    state.pushed_total += work.applied
    state.rejected_total += len(work.rejected)
    return answer


# --- pull -------------------------------------------------------------------------------------------------------

def pull_page(session: Session, spoke: Principal, cursors: dict[str, list[Any]], limit: int,
              found: "Marks | None" = None, read_at: int | None = None, horizons: bool = False) -> PullAnswer:
    """The next rows of the spoke's scope after its cursors, entity by entity, at most `limit` of them. With the
    scope's marks (`found`, read after `read_at` was taken), an entity with nothing after its cursor is not read.
    With `horizons` (a spoke that takes them) and the marks of a PostgreSQL hub, each cursor answered carries the
    read's horizon, and a cursor that comes back with one skips the rows the spoke already has (SEEN in
    sync/wire.py)."""
    rows: list[PullRow] = []
    out: dict[str, list[Any]] = {}
    more = False
    if read_at is None:
        read_at = clock.now()  # taken before reading: see OVERLAP in sync/wire.py
    # The marks' own (their statement ran before anything the page answers from was read): see SEEN.
    horizon = found.horizon if horizons and found is not None else None
    for entity in ENTITIES:
        if not entity.pull:
            continue
        room = limit - len(rows)
        if room <= 0:
            more = True
            break
        table = entity.table
        value = cursors.get(entity.name)
        version, after = _cursor(value)
        seen = _seen(value) if horizon is not None else None
        if found is not None and (version, after) >= found.last.get(entity.name, (0, ZERO_ID)):
            # Nothing after the cursor (nor, then, between it and the rows seen before). For bulletins the marks hold
            # the newest of any audience (a change of audience is a new version): nothing newer, nothing to read.
            out[entity.name] = _cursor_out(max((version, after), seen[0]) if seen else (version, after), read_at,
                                           horizon)
            continue
        sent = _sent_columns(entity.name)
        stmt = (select(*(table.c[name] for name in sent)).where(policy.in_scope(entity.model, spoke))
                .where(tuple_(table.c.version, table.c.id) > tuple_(literal(version, BigInteger()), literal(after, Uuid())))
                .order_by(table.c.version, table.c.id).limit(room + 1))
        if "pushed_by" in table.c:
            # Not the rows this spoke's own push made as they are: its push's answer gave it their versions.
            stmt = stmt.where(or_(table.c.pushed_by.is_(None), table.c.pushed_by != spoke.node_id,
                                  table.c.pushed_version != table.c.version))
        if seen is not None:
            stmt = stmt.where(_not_seen(table, seen))
        # Rows as plain dicts built from the result's tuples (a mapping view per row costs more than the read).
        fetched = [dict(zip(sent, row)) for row in session.execute(stmt).tuples()]
        if len(fetched) > room:
            more, fetched = True, fetched[:room]
        if entity.name in BY_AUDIENCE:
            rows.extend(_with_audience(session, spoke, fetched))
        else:
            rows.extend(PullRow(entity.name, row) for row in fetched)
        position = (fetched[-1]["version"], fetched[-1]["id"]) if fetched else (version, after)
        if seen is not None and not more:
            # Read to the end: what lay between the cursor and the rows seen before was all skipped as seen.
            position = max(position, seen[0])
        if found is not None and not more and entity.name in found.last and found.last[entity.name] > position:
            # Read to the end of the scope as the marks showed it: what lies between was this spoke's own (skipped).
            position = found.last[entity.name]
        if entity.name in BY_AUDIENCE and not more:
            # Read to the end: the rows after the last one sent are all addressed elsewhere; the next pull starts
            # after them, so a quiet round can tell that nothing new is addressed to this spoke.
            last = session.execute(select(table.c.version, table.c.id).order_by(table.c.version.desc(), table.c.id.desc())
                                   .limit(1)).first()
            if last is not None and (last.version, last.id) > position:
                position = (last.version, last.id)
        out[entity.name] = _cursor_out(position, read_at, horizon)
        if more:
            break
    return PullAnswer(rows=rows, cursors=out, more=more, read_at=read_at)


def _cursor_out(position: tuple[int, uuid.UUID], read_at: int, horizon: int | None) -> list[Any]:
    """A cursor as answered: [version, id, read_at] and, with a horizon, [..., horizon] (see SEEN)."""
    value: list[Any] = [position[0], str(position[1]) if position[1] != ZERO_ID else "", read_at]
    if horizon is not None:
        value.append(horizon)
    return value


# PostgreSQL's oldest transaction still running as a statement's snapshot saw it (64-bit): every transaction below
# it had ended, and the statement saw what those that committed wrote.
HORIZON = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)


def _not_seen(table: Any, seen: tuple[tuple[int, uuid.UUID], int]) -> Any:
    """Not a row the spoke already has: one at or before the position it had read to, written by a transaction
    that had ended before that read began (so the read saw it). Row transaction ids are 32 bits and wrap: compared
    as PostgreSQL compares them, within 2³¹ of the horizon (rows of the last seconds are); ids below 3 are frozen
    (old, seen)."""
    (position, row_id), horizon = seen
    xid = literal_column(f"({table.name}.xmin::text::bigint)")
    low = literal(horizon % 2**32, BigInteger())
    before = or_(xid < 3, ((xid - low + 2**32) % 2**32) >= 2**31)
    return ~(and_(tuple_(table.c.version, table.c.id) <= tuple_(literal(position, BigInteger()), literal(row_id, Uuid())),
                  before))


# Entities whose rows reach a spoke by their audience, not by the node that holds them (bulletins, held by the hub).
BY_AUDIENCE = frozenset({"bulletin"})


def _with_audience(session: Session, spoke: Principal, fetched: list[Any]) -> list[PullRow]:
    """Bulletins with the nodes of the spoke's subtree they are addressed to (the spoke shows each node its own)."""
    ids = [row["id"] for row in fetched]
    audience: dict[uuid.UUID, list[str]] = defaultdict(list)
    if ids:
        for bulletin_id, node_id in session.execute(
                select(BulletinAudience.bulletin_id, BulletinAudience.node_id)
                .where(BulletinAudience.bulletin_id.in_(ids), BulletinAudience.node_id.in_(sorted(spoke.subtree)))
                .order_by(BulletinAudience.node_id)):
            audience[bulletin_id].append(node_id)
    return [PullRow("bulletin", row, audience=audience.get(row["id"], [])) for row in fetched]


@lru_cache(maxsize=None)
def _sent_columns(entity_name: str) -> tuple[str, ...]:
    """The columns of an entity a pull sends (all but the hub's own)."""
    return tuple(name for name in BY_NAME[entity_name].columns if name not in HUB_ONLY)


def _cursor(value: Any) -> tuple[int, uuid.UUID]:
    """Where a pull of one entity starts: [version, id], or [version, id, seen version, seen id, horizon]."""
    if isinstance(value, (list, tuple)) and len(value) in (2, 5):
        try:
            return int(value[0]), (uuid.UUID(str(value[1])) if value[1] else ZERO_ID)
        except (ValueError, TypeError):
            pass
    return 0, ZERO_ID


def _seen(value: Any) -> tuple[tuple[int, uuid.UUID], int] | None:
    """Of a cursor that starts before the rows a spoke has seen: the position it had read to and that read's
    horizon (see SEEN in sync/wire.py). None for any other cursor, or one that does not parse."""
    if isinstance(value, (list, tuple)) and len(value) == 5:
        try:
            horizon = int(value[4])
            if horizon > 0:
                return (int(value[2]), uuid.UUID(str(value[3])) if value[3] else ZERO_ID), horizon
        except (ValueError, TypeError):
            pass
    return None


def drops_since(session: Session, spoke: Principal, since: int) -> tuple[list[Drop], int]:
    """Rows that left the spoke's scope after `since` and are still outside it."""
    subtree = sorted(spoke.subtree)
    moves = session.execute(select(SyncMove).where(SyncMove.from_node.in_(subtree), SyncMove.to_node.not_in(subtree),
                                                   SyncMove.version > since).order_by(SyncMove.version)).scalars().all()
    drops: dict[tuple[str, str], Drop] = {}
    cursor = since
    for move in moves:
        cursor = max(cursor, move.version)
        entity = BY_NAME.get(move.entity)
        if entity is None or (move.entity, move.row_id) in drops:
            continue
        row_id = uuid.UUID(move.row_id)
        if entity.name in BY_AUDIENCE:
            # No longer addressed to a node of the subtree (a bulletin whose targets the office narrowed).
            gone = session.scalar(select(entity.table.c.id).where(entity.table.c.id == row_id,
                                                                  policy.in_scope(entity.model, spoke))) is None
        else:
            now_at = session.scalar(select(entity.table.c.node_id).where(entity.table.c.id == row_id))
            gone = now_at is not None and now_at not in spoke.subtree
        if gone:
            drops[(move.entity, move.row_id)] = Drop(move.entity, move.row_id)
    return list(drops.values()), cursor


# --- divergence -------------------------------------------------------------------------------------------------

class Marks:
    """What the triggers keep for a scope: per pulled entity the greatest (version, id), the row count and the
    checksum of versions; and the greatest version of a row that left one of its nodes."""

    def __init__(self, rows: list[Any]) -> None:
        self.last: dict[str, tuple[int, uuid.UUID]] = {}
        self.digest: dict[str, list[int]] = {e.name: [0, 0] for e in ENTITIES if e.pull}
        self.moved = 0
        # PostgreSQL's oldest transaction still running when the marks were read (see SEEN); None elsewhere.
        self.horizon: int | None = None
        # A tag of the spoke's directory (its node's accounts, the nodes, the office's lists): see directory_tag.
        self.directory: str | None = None
        for entity, version, row_id, count, checksum in rows:
            if entity == "_horizon":
                self.horizon = int(version)
                continue
            if entity == "_move":
                self.moved = max(self.moved, int(version))
                continue
            if entity not in self.digest:
                continue
            if entity in BY_AUDIENCE:
                # Any node's: whether anything after the cursor is addressed to this spoke is the pull's to tell.
                pair = (int(version), row_id or ZERO_ID)
                if count and (entity not in self.last or pair > self.last[entity]):
                    self.last[entity] = pair
                continue
            pair = (int(version), row_id or ZERO_ID)
            if count and (entity not in self.last or pair > self.last[entity]):
                self.last[entity] = pair
            self.digest[entity][0] += int(count)
            self.digest[entity][1] += int(checksum)

    def nothing_after(self, cursors: dict[str, list[Any]]) -> bool:
        """Whether no row of the scope lies after the cursors (a false "something" only costs an ordinary pull)."""
        return all(_cursor(cursors.get(name)) >= pair for name, pair in self.last.items())


def marks(session: Session, spoke: Principal) -> Marks:
    return marks_and_conflicts(session, spoke)[0]


def marks_and_conflicts(session: Session, spoke: Principal) -> tuple[Marks, int]:
    """The marks of the spoke's scope, the digests of the entities counted by audience and its open conflicts,
    in one statement (what a round with nothing to do needs at the hub)."""
    connection = session.connection()
    sql, params = _marks_statement(connection.dialect, spoke.subtree, spoke.node_id)
    rows, counted, conflicts, files, directory = [], {}, 0, None, []
    for row in connection.exec_driver_sql(sql, params).all():
        if row[0].startswith("_dir:"):
            directory.append("/".join(str(value) for value in (row[0], row[1], row[3], row[4])))
        elif row[0] == "_conflicts":
            conflicts = int(row[3])
        elif row[0] == "_files":
            files = row
        elif row[0].startswith("_counted:"):
            counted[row[0].split(":", 1)[1]] = [int(row[3]), int(row[4])]
        else:
            row_id = row[2]
            if row_id is not None and not isinstance(row_id, uuid.UUID):
                row_id = uuid.UUID(str(row_id))  # SQLite hands back the stored text
            rows.append((row[0], row[1], row_id, row[3], row[4]))
    found = Marks(rows)
    found.digest.update(counted)
    found.directory = directory_tag(directory)
    if files is not None and int(files[3]):
        # A bulletin's files, held at the office's node, travel to the spokes the bulletin is addressed to.
        found.digest["attachment"] = [found.digest["attachment"][0] + int(files[3]),
                                      found.digest["attachment"][1] + int(files[4])]
        pair = (int(files[1]), MAX_ID)
        if pair > found.last.get("attachment", (0, ZERO_ID)):
            found.last["attachment"] = pair
    return found, conflicts


def directory_tag(parts: list[str]) -> str:
    """What a spoke's directory is made of, summed up: a different tag, a different directory (a spoke fetches it
    again when the tag it last took changes). From each part's newest version or time, its count and its checksum."""
    return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:24]


@lru_cache(maxsize=1024)
def _marks_statement(dialect: Any, subtree: frozenset[str], node_id: str) -> tuple[str, Any]:
    """marks_and_conflicts' statement for one scope, compiled once (it runs on every round of every spoke)."""
    spoke = Principal(None, "", "spoke", "", subtree=subtree)
    subtree_ids = sorted(subtree)
    parts = [select(SyncMark.entity, SyncMark.version, SyncMark.row_id, SyncMark.rows, SyncMark.checksum)
             .where(or_(SyncMark.node_id.in_(subtree_ids), SyncMark.entity.in_(sorted(BY_AUDIENCE)))),
             select(literal("_conflicts"), literal(0, BigInteger), literal(None, Uuid), func.count(),
                    literal(0, BigInteger)).select_from(SyncConflict)
             .where(SyncConflict.status == "open", SyncConflict.node_id.in_(subtree_ids))]
    if dialect.name.startswith("postgres"):
        # The horizon of the statement's own snapshot (see SEEN in sync/wire.py): the marks are what it saw.
        parts.append(select(literal("_horizon"), HORIZON, literal(None, Uuid), literal(0, BigInteger),
                            literal(0, BigInteger)))
    for name in sorted(BY_AUDIENCE):
        entity = BY_NAME[name]
        parts.append(select(literal(f"_counted:{name}"), literal(0, BigInteger), literal(None, Uuid), func.count(),
                            func.coalesce(func.sum(entity.table.c.version % CHECKSUM_MODULUS), 0))
                     .select_from(entity.table).where(policy.in_scope(entity.model, spoke)))
    # The files of the bulletins addressed to the scope (held at the office's node): counted, and the newest version.
    files = Attachment.__table__
    parts.append(select(literal("_files"), func.coalesce(func.max(files.c.version), 0), literal(None, Uuid), func.count(),
                        func.coalesce(func.sum(files.c.version % CHECKSUM_MODULUS), 0))
                 .select_from(files)
                 .where(files.c.entity_type == "bulletin", files.c.node_id.not_in(subtree_ids),
                        files.c.entity_id.in_(select(Bulletin.id).where(policy.in_scope(Bulletin, spoke)))))
    # What the spoke's directory is made of (sync/directory.py): its node's accounts, the nodes (a small table), the
    # office's lists (their last change's time in the name). A change to any of them changes the directory's tag.
    users, nodes, lists = User.__table__, Node.__table__, Setting.__table__
    parts.append(select(literal("_dir:users"), func.coalesce(func.max(users.c.version), 0), literal(None, Uuid),
                        func.count(), func.coalesce(func.sum(users.c.version % CHECKSUM_MODULUS), 0))
                 .select_from(users).where(users.c.node_id == node_id))
    parts.append(select(literal("_dir:nodes"), func.coalesce(func.max(nodes.c.version), 0), literal(None, Uuid),
                        func.count(), func.coalesce(func.sum(nodes.c.version % CHECKSUM_MODULUS), 0))
                 .select_from(nodes))
    parts.append(select(literal("_dir:lists:") + func.coalesce(cast(func.max(lists.c.updated_at), Text), ""),
                        literal(0, BigInteger), literal(None, Uuid), func.count(), literal(0, BigInteger))
                 .select_from(lists))
    compiled = union_all(*parts).compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    if compiled.positional:
        return str(compiled), tuple(compiled.params[name] for name in compiled.positiontup or ())
    return str(compiled), dict(compiled.params)


def digests(session: Session, spoke: Principal) -> dict[str, list[int]]:
    """Per pulled entity, [rows, checksum of their versions] in the spoke's scope, from the marks."""
    return marks(session, spoke).digest


def _counted(session: Session, spoke: Principal, entity: Entity) -> list[int]:
    table = entity.table
    count, total = session.execute(select(func.count(), func.coalesce(func.sum(table.c.version % CHECKSUM_MODULUS), 0))
                                   .where(policy.in_scope(entity.model, spoke))).one()
    return [int(count), int(total)]


def digests_counted(session: Session, spoke: Principal) -> dict[str, list[int]]:
    """The same, counted row by row: what the marks must always equal."""
    return {entity.name: _counted(session, spoke, entity) for entity in ENTITIES if entity.pull}


def scoped_ids(session: Session, spoke: Principal, entity: Entity) -> list[str]:
    return [str(i) for i in session.scalars(select(entity.table.c.id).where(policy.in_scope(entity.model, spoke)))]


# --- conflicts: the office decides ------------------------------------------------------------------------------

def resolve_conflict(session: Session, p: Principal, conflict_id: uuid.UUID, decision: str, merged: str | None) -> SyncConflict:
    """Keep the applied value, replace it with the other, or write a value merged by hand; the new value syncs out."""
    from common.errors import Conflict as StateConflict, InvalidField, NotFound
    from common.i18n import N_
    from common.service import audit_write

    policy.require_office(p)
    conflict = session.get(SyncConflict, conflict_id, with_for_update=True)
    if conflict is None:
        raise NotFound()
    if conflict.status != "open":
        raise StateConflict(N_("This conflict has already been resolved."))
    if decision not in ("keep", "replace", "merge"):
        raise InvalidField("decision", N_("Not one of the allowed values"))
    entity = BY_NAME[conflict.entity]
    row = session.get(entity.model, uuid.UUID(conflict.row_id))
    if row is None:
        raise NotFound()
    if decision != "keep":
        column = entity.table.c[conflict.field]
        if decision == "replace":
            value = entity.decode({conflict.field: conflict.other_value})[conflict.field]
        else:
            if column.type.python_type is not str:
                raise InvalidField("value", N_("Only a text field can be merged by hand."))
            value = (merged or "").strip()
            if not value:
                raise InvalidField("value", N_("Write the merged value."))
        setattr(row, conflict.field, value)  # captured: a new version of the field, pulled by the spokes
        if conflict.entity == "enterprise" and conflict.field == "node_id":
            move_file(session, row)  # its whole file goes with it, as with any move
    conflict.status, conflict.resolution = "resolved", decision
    conflict.resolved_by, conflict.resolved_at = p.user_id, utcnow()
    session.flush()
    audit_write(session, p, "sync.conflict_resolved", entity.name, conflict.row_id,
                {"field": conflict.field, "decision": decision})
    return conflict
