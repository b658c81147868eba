"""Bulletins, who they are addressed to, their acknowledgements and reminders."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, Synced, utcnow


class Bulletin(Base, Synced):
    """A warning, news item or legal information pushed to nodes (Art. 12, 19)."""

    __tablename__ = "bulletin"

    kind: Mapped[str] = mapped_column(String(16))  # warning / news / legal
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16), default="info")  # info / notice / serious / critical
    targets: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"all": bool, "regions": [], "industries": [], "nodes": []}
    for_all: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    author_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class BulletinAudience(Base):
    """The nodes a bulletin reaches, resolved from its targets when it is published."""

    __tablename__ = "bulletin_audience"

    bulletin_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bulletin.id"), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), ForeignKey("node.id"), primary_key=True, index=True)


class BulletinAck(Base, Synced):
    """One node's acknowledgement of a bulletin; append-only."""

    __tablename__ = "bulletin_ack"
    __table_args__ = (UniqueConstraint("bulletin_id", "node_id"),)

    bulletin_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bulletin.id"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class BulletinReminder(Base, Synced):
    """The office reminding one target node that has not acknowledged a bulletin; one row per node and reminder.

    The row belongs to the reminded node (`node_id`), so it travels to that node's spoke like the rest of its scope.
    """

    __tablename__ = "bulletin_reminder"
    # (node_id, version, id) is how a pull reads a synced table, as for the tables in sync/models.py.
    __table_args__ = (Index("ix_bulletin_reminder_bulletin_id_node_id", "bulletin_id", "node_id"),
                      Index("ix_bulletin_reminder_node_id_version", "node_id", "version", "id"))

    bulletin_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bulletin.id"))
    reminded_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)
