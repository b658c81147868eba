"""The merge of a pushed row with the hub's, field by field; what cannot be merged kept for the office to review."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.audit import trail as audit
from common import rules
from common.clock import clock
from common.models import Case, CaseEvent, Enterprise, SyncConflict, SyncMove, Visit, utcnow
from common.policy import Principal
from sync import bulk
from sync.entities import BY_NAME, Entity
from sync.hub.rows import RowRefused, clean_versions, field_version, jsonable
from sync.hub.scope import FILE
from sync.wire import Change


class PushMerge:
    """The merge of BatchApply (sync/hub/push.py), on the batch it is applying."""

    session: Session
    spoke: Principal
    conflicts: int
    stamps: list[list[Any]]
    rewrites: dict[uuid.UUID, dict[str, Any]]
    rewritten: set[str]
    lost_moves: set[tuple[uuid.UUID, str]]

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
            incoming = field_version(change.fv.get(name))
            if incoming is None:
                raise RowRefused(f"no version for field {name}")
            if current[name] == value or field_version(versions.get(name)) == incoming:
                continue
            kept.append(name)
            self.conflicts += 1
            self.session.add(SyncConflict(entity=entity.name, row_id=str(row_id), field=name, node_id=current["node_id"],
                                          kept_value=jsonable(current[name]),
                                          kept_by=list(field_version(versions.get(name)) or (0, "")),
                                          other_value=jsonable(value), other_by=list(incoming)))
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
            by = field_version(other_by)
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
            incoming = field_version(change.fv.get(name))
            if incoming is None:
                raise RowRefused(f"no version for field {name}")
            mine = field_version(versions.get(name))
            if mine == incoming:
                continue  # applied before
            if mine == field_version(prior.get(name)) or (mine is not None and mine[1] == incoming[1] and mine < incoming):
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
                                          kept_value=jsonable(kept), kept_by=list(kept_by or (0, "")),
                                          other_value=jsonable(other), other_by=list(other_by or (0, ""))))
        if versions == (current["field_versions"] or {}) and not updates:
            return
        version = clock.now()
        old_node = current["node_id"]
        current.update(updates, field_versions=versions, version=version, updated_at=utcnow())
        self.rewritten.update(updates)
        if "pushed_by" in current:
            # The spoke holds the merged row exactly when its whole row's field versions are the merged ones.
            whole = change.row_fv is not None and clean_versions(change.row_fv) == versions
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
