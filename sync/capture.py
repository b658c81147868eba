"""Change capture: in the transaction of every write, the field versions of the row and (at a spoke) its outbox entry.

Installed on a node's session factories. At the hub it also records a row leaving a node's scope, so that node's
spoke can drop it; at a spoke each change waits in the outbox until the hub has acknowledged it.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from common.clock import clock
from common.db import ACTOR, Database
from common.models import SyncMove, SyncOutbox, new_id
from common.orm import utcnow
from common.notify.service import TELLS
from sync import bulk
from sync.entities import BY_MODEL

BULK = "capture_bulk"


def spoke_database(url: str, node_id: str) -> Database:
    """A spoke's database: its slice, without cross-slice references enforced, every change captured."""
    db = Database.connect(url, foreign_keys=False)
    install(db, node_id, outbox=True)
    return db


def install(db: Database, node_id: str, outbox: bool) -> None:
    """Capture changes made through `db`'s sessions; `outbox` at a spoke, moves at the hub."""
    for maker in (db.writes, db.reads):
        # Whose numbers this database mints (case numbers); added to what the Database gave its sessions (the audit key).
        # A write made in bulk, past the ORM, reports its rows here (`bulk_written`); and only where writes are final
        # (the hub) does a write tell people (common/notify): a spoke's notices come from the hub by sync.
        maker.configure(info={**maker.kw.get("info", {}), "node_id": node_id,
                              BULK: _queue_outbox if outbox else _kept_by_marks, TELLS: not outbox})
        event.listen(maker, "before_flush", lambda session, _ctx, _objs: capture(session, node_id, outbox))


def capture(session: Session, node_id: str, outbox: bool) -> None:
    # Whom the write is made for: given with the transaction (Database.transaction(actor=...)).
    principal = session.info.get(ACTOR)
    actor_id = principal.user_id if principal is not None else None
    for obj in list(session.new):
        entity = BY_MODEL.get(type(obj))
        if entity is None:
            continue
        if obj.id is None:
            obj.id = new_id()
        if obj.field_versions is None:
            obj.field_versions = {}
        if outbox:
            session.add(SyncOutbox(entity=entity.name, row_id=str(obj.id), fields=None, prior=None, actor_id=actor_id))
    for obj in list(session.dirty):
        entity = BY_MODEL.get(type(obj))
        if entity is None:
            continue
        state = inspect(obj)
        changed = [name for name in entity.fields if state.attrs[name].history.has_changes()]
        if not changed:
            continue
        version = clock.now()
        versions: dict[str, Any] = dict(obj.field_versions or {})
        prior = {name: versions.get(name) for name in changed}
        for name in changed:
            versions[name] = [version, node_id]
        obj.field_versions = versions
        obj.version = version
        if outbox:
            session.add(SyncOutbox(entity=entity.name, row_id=str(obj.id), fields=changed, prior=prior, actor_id=actor_id))
        elif "node_id" in changed:
            before = state.attrs["node_id"].history.deleted
            if before and before[0] and before[0] != obj.node_id:
                session.add(SyncMove(entity=entity.name, row_id=str(obj.id), from_node=before[0], to_node=obj.node_id,
                                     version=version))


# --- writes made in bulk ------------------------------------------------------------------------------------------
# A write past the ORM (a roster import: thousands of rows in a few statements) stamps its rows as a flush would and
# reports them, so they sync like any other write.

def stamp_made(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """A new row's values with the stamps a flush gives it."""
    return {**values, "field_versions": {}, "version": clock.now()}


def stamp_changed(session: Session, current: dict[str, Any], changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The columns to write over a changed row (its changes, a new version, its field versions), and each changed
    field's version before: what a flush of the same change records."""
    version = clock.now()
    versions = dict(current["field_versions"] or {})
    prior = {name: versions.get(name) for name in changes}
    versions.update({name: [version, session.info.get("node_id") or "hub"] for name in changes})
    return {"id": current["id"], **changes, "version": version, "field_versions": versions}, prior


def bulk_written(session: Session, entity: str, made: list[Any], changed: list[tuple[Any, list[str], dict[str, Any]]],
                 actor_id: Any) -> None:
    """Rows `made` (ids) and `changed` (id, fields, prior versions) of `entity` written in bulk in this session."""
    session.info.get(BULK, _kept_by_marks)(session, entity, made, changed, actor_id)


def _kept_by_marks(session: Session, entity: str, made: list[Any], changed: list[Any], actor_id: Any) -> None:
    """At the hub: the sync marks' triggers already saw the statements; nothing more is kept."""


def _queue_outbox(session: Session, entity: str, made: list[Any], changed: list[Any], actor_id: Any) -> None:
    """At a spoke: each row waits in the outbox until the hub has acknowledged it, as a flushed change does."""
    now = utcnow()
    bulk.insert_rows(session, SyncOutbox.__table__, [
        *({"entity": entity, "row_id": str(row_id), "fields": None, "prior": None, "actor_id": actor_id,
           "created_at": now} for row_id in made),
        *({"entity": entity, "row_id": str(row_id), "fields": list(fields), "prior": prior, "actor_id": actor_id,
           "created_at": now} for row_id, fields, prior in changed)])
