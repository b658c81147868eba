"""The checks of a pushed row: the spoke's scope, the writer's rights, the write rules, the row's parent."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.audit import trail as audit
from common.cases import lifecycle
from common import policy, rules
from common.clock import clock
from common.models import Bulletin, SyncMove, utcnow
from common.policy import WRITERS, Principal
from common.federation.service import NODE_REQUESTS
from sync.entities import BY_NAME, Entity
from sync.hub.rows import RowRefused, clean_versions
from sync.hub.scope import APPEND_ONLY_ROLES, FILE, FOLLOWERS
from sync.wire import Change


class PushChecks:
    """The checks of BatchApply (sync/hub/push.py), on the batch it is applying."""

    session: Session
    spoke: Principal
    users: dict[uuid.UUID, Any]
    parents: rules.ParentNodes

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
        row.update(id=row_id, version=clock.now(), field_versions=clean_versions(change.fv),
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
                rules.check_owner(entity.name, writer, current)
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
