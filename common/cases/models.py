"""Requests and police reports (cases) with their append-only handling timeline (Art. 14, 17, 18)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, Pushed, Synced, utcnow


class Case(Base, Synced, Pushed):
    __tablename__ = "case_record"
    __table_args__ = (Index("ix_case_record_node_id_id", "node_id", "id"), Index("ix_case_record_status_id", "status", "id"))

    number: Mapped[str] = mapped_column(String(40), unique=True)
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("enterprise.id"), index=True, default=None)
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32), index=True)
    urgency: Mapped[str] = mapped_column(String(16), default="routine")
    jurisdiction: Mapped[str] = mapped_column(String(16), default="local")  # local: lead / elsewhere: assist
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # category-specific fields
    # Projections of the timeline, recomputed from the events on every append (never edited directly).
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    lead_unit: Mapped[str | None] = mapped_column(String(64), default=None)
    reported_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


class CaseEvent(Base, Synced, Pushed):
    """One step of a case's handling; never edited, so timelines from two nodes merge by union."""

    __tablename__ = "case_event"
    # The period's events of a kind (the reports' dispatches, 催办 and 督办, call-backs) without reading every event.
    __table_args__ = (Index("ix_case_event_kind_at", "kind", "at"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    unit: Mapped[str | None] = mapped_column(String(64), ForeignKey("unit.id"), default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    satisfaction: Mapped[int | None] = mapped_column(Integer, default=None)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    actor_role: Mapped[str] = mapped_column(String(16), default="")
    actor_unit: Mapped[str | None] = mapped_column(String(64), default=None)
    actor_leader: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the kind needs beyond a note, fixed when the event is written: a dispatch's deadlines (sign_by, report_by,
    # as worked out from the settings then), an extension's new date (until), which deadline an escalation is about.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))


class CaseUnit(Base):
    """Which units a case is dispatched to — a projection of the timeline that scopes liaison queries."""

    __tablename__ = "case_unit"
    __table_args__ = (Index("ix_case_unit_next_check", "next_check", postgresql_where=text("next_check IS NOT NULL"),
                            sqlite_where=text("next_check IS NOT NULL")),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(64), ForeignKey("unit.id"), primary_key=True, index=True)
    lead: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    signed: Mapped[bool] = mapped_column(Boolean, default=False)
    reported: Mapped[bool] = mapped_column(Boolean, default=False)
    # The unit's deadlines as its latest dispatch (and an approved extension) set them.
    sign_by: Mapped[datetime | None] = mapped_column(default=None)
    report_by: Mapped[datetime | None] = mapped_column(default=None)
    # When the hub's escalation job next has something to do for this dispatch (a reminder, 催办, 督办); None when
    # nothing is owed. Only these rows are read each minute (common/cases/escalation.py).
    next_check: Mapped[datetime | None] = mapped_column(default=None)


class CaseSequence(Base):
    """Local numbering per node and year: numbers are unique without asking the hub."""

    __tablename__ = "case_sequence"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
