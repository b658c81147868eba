"""What sync keeps besides the data: a spoke's outbox and state, the hub's batches, peers, conflicts and scope moves."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.audit.models import AuditEntry
from common.orm import Base, new_id, utcnow
from common.cases.models import Case, CaseEvent
from common.attachments.models import Attachment
from common.notify.models import Notification
from common.tasks.models import Task
from common.bulletins.models import Bulletin, BulletinAck
from common.visits.models import InfoReport, Visit
from common.federation.models import NodeApplication
from common.roster.models import Enterprise, Person

# SQLite makes an INTEGER PRIMARY KEY its rowid (autoincrementing); PostgreSQL gets a BIGINT identity.
SEQ = BigInteger().with_variant(Integer(), "sqlite")


class SyncOutbox(Base):
    """At a spoke: one local change not yet acknowledged by the hub, written in the transaction of the change."""

    __tablename__ = "sync_outbox"
    # Never reuse a number once acknowledged entries are gone: batch ids are made of them.
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[str] = mapped_column(String(64))
    # The fields changed (None: the whole row, as made), and each one's version before this change.
    fields: Mapped[list[Any] | None] = mapped_column(default=None)
    prior: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncState(Base):
    """At a spoke: its sync cursors and the record of its last rounds, one JSON value per key."""

    __tablename__ = "sync_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()


class SyncBatch(Base):
    """At the hub: a pushed batch already applied, with the answer it got, so a batch sent twice applies once."""

    __tablename__ = "sync_batch"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # node id + the spoke's batch id
    node_id: Mapped[str] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    answer: Mapped[dict[str, Any]] = mapped_column()


class SyncPeer(Base):
    """At the hub: how each spoke's sync is going, for the sync page and `lianfu sync status`."""

    __tablename__ = "sync_peer"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)
    pushed_total: Mapped[int] = mapped_column(BigInteger, default=0)
    pulled_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected_total: Mapped[int] = mapped_column(BigInteger, default=0)
    queued: Mapped[int] = mapped_column(BigInteger, default=0)  # as the spoke last reported
    lag_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # age of its oldest unsent change, as reported
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)  # the hub version the spoke has pulled up to
    protocol: Mapped[int] = mapped_column(Integer, default=0)
    schema: Mapped[str] = mapped_column(String(32), default="")
    digest_ok: Mapped[bool | None] = mapped_column(default=None)


class SyncConflict(Base):
    """At the hub: one field written on two nodes at once; the winner is applied, the other value kept here."""

    __tablename__ = "sync_conflict"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    entity: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[str] = mapped_column(String(64), index=True)
    field: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[str] = mapped_column(String(64), index=True)  # the row's node, for whose eyes it is
    kept_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    kept_by: Mapped[list[Any]] = mapped_column()  # [version, node]
    other_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    other_by: Mapped[list[Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open / resolved
    resolution: Mapped[str] = mapped_column(String(16), default="")  # keep / replace / merge
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncMove(Base):
    """At the hub: a row that left a node's scope (e.g. an enterprise given to another sub-center)."""

    __tablename__ = "sync_move"

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[str] = mapped_column(String(64))
    from_node: Mapped[str] = mapped_column(String(64))
    to_node: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_sync_move_from_node_version", "from_node", "version"),)


class SyncMark(Base):
    """Per node and pulled entity: the greatest (version, id) of its rows, their count and the checksum of their
    versions — kept by the database's own triggers on every insert, update and delete, so a round with nothing to
    do, and its digest, are answered from a few rows however large the tables grow. Entity `_move`: the greatest
    version of the rows that left the node (its drops)."""

    __tablename__ = "sync_mark"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    row_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    checksum: Mapped[int] = mapped_column(BigInteger, default=0)


# Pulls read each synced table by node and version.
SYNCED_MODELS = (Enterprise, Person, Case, CaseEvent, Visit, Bulletin, BulletinAck, InfoReport, Attachment,
                 NodeApplication, AuditEntry, Notification, Task)
for _model in SYNCED_MODELS:
    Index(f"ix_{_model.__tablename__}_node_id_version", _model.node_id, _model.version, _model.id)
