"""The audit chain's entries, its head and the signed checkpoints spokes keep as witnesses."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, Synced, new_id, utcnow


class AuditEntry(Base, Synced):
    """One change or security event; each node keeps its own hash chain (seq, prev_hash, hash)."""

    __tablename__ = "audit_entry"
    # The viewer reads the trail newest first, a page at a time (common/audit/viewer.py): along this index.
    __table_args__ = (UniqueConstraint("node_id", "seq"), Index("ix_audit_entry_at_id", "at", "id"))

    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), default="")
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    action: Mapped[str] = mapped_column(String(40), index=True)
    entity_type: Mapped[str] = mapped_column(String(40), default="")
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    address: Mapped[str] = mapped_column(String(64), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The tip of one node's chain; locked while appending so concurrent writers stay in one line."""

    __tablename__ = "audit_head"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64), default="0" * 64)
    # The first entry linked with the node's audit key (an HMAC), when it has one: every later entry must be too,
    # so a writer without the key cannot pass entries off as the plain sha256 links of the chain's older part.
    keyed_from: Mapped[int | None] = mapped_column(BigInteger, default=None)


class AuditCheckpoint(Base):
    """A signed statement of where a chain stood (seq, hash) at a time, handed to spokes to keep as witnesses."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    node_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    kid: Mapped[str] = mapped_column(String(64))
    # JWS compact serialization, signed with the hub's token-signing key named by `kid`.
    jws: Mapped[str] = mapped_column(Text)
