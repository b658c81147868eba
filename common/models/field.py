"""Work in the field: safety visits, bulletins with acknowledgements, risk information, attachments."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from common.models.base import Base, Pushed, Synced, utcnow


class Visit(Base, Synced, Pushed):
    """An on-site safety visit or legal-education session (Art. 13, 17(6))."""

    __tablename__ = "visit"
    __table_args__ = (Index("ix_visit_enterprise_id_visited_at", "enterprise_id", "visited_at"),)

    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enterprise.id"))
    visited_at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(24), default="safety")  # safety / legal_education / follow_up
    visitors: Mapped[str] = mapped_column(String(200), default="")
    checklist: Mapped[dict[str, Any]] = mapped_column(default=dict)
    findings: Mapped[str] = mapped_column(Text, default="")
    hazards: Mapped[list[Any]] = mapped_column(default=list)  # [{"description": ..., "severity": ...}]
    guidance: Mapped[str] = mapped_column(Text, default="")
    topic: Mapped[str] = mapped_column(String(200), default="")
    attendance: Mapped[int | None] = mapped_column(Integer, default=None)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    visitor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


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
    # (node_id, version, id) is how a pull reads a synced table, as for the tables in common/models/sync.py.
    __table_args__ = (Index("ix_bulletin_reminder_bulletin_id_node_id", "bulletin_id", "node_id"),
                      Index("ix_bulletin_reminder_node_id_version", "node_id", "version", "id"))

    bulletin_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bulletin.id"))
    reminded_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class InfoReport(Base, Synced, Pushed):
    """Risk information collected by units and sub-centers for the monthly digest (Art. 12, 18(1))."""

    __tablename__ = "info_report"

    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32), default="other")
    risk_level: Mapped[str] = mapped_column(String(16), default="low")
    source_unit: Mapped[str | None] = mapped_column(String(64), ForeignKey("unit.id"), default=None)
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("enterprise.id"), default=None)
    reported_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


class Attachment(Base, Synced, Pushed):
    """A reference to a content-addressed blob (sha256) attached to a row."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_entity", "entity_type", "entity_id"),)

    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID] = mapped_column()
