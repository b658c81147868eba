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


OPEN_STEPS = "active AND dispatched_at IS NOT NULL AND (signed_at IS NULL OR reported_at IS NULL)"


class CaseUnit(Base):
    """Which units a case is dispatched to — a projection of the timeline that scopes liaison queries."""

    __tablename__ = "case_unit"
    __table_args__ = (Index("ix_case_unit_next_check", "next_check", postgresql_where=text("next_check IS NOT NULL"),
                            sqlite_where=text("next_check IS NOT NULL")),
                      # The dispatches with a step still to take: the statistics judge these against the clock.
                      Index("ix_case_unit_open_steps", "unit_id", "dispatched_at", postgresql_where=text(OPEN_STEPS),
                            sqlite_where=text(OPEN_STEPS)))

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
    # The unit's latest dispatch and the sign-for and report back after it (`unit_clock`): what the statistics judge
    # against `sign_by` and `report_by`, and what `unit_month` counts (revision 0032).
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    signed_at: Mapped[datetime | None] = mapped_column(default=None)
    reported_at: Mapped[datetime | None] = mapped_column(default=None)


class CasesPerMonth:
    """Live cases per category and month raised (Beijing time, `YYYY-MM`), of one node or one police unit."""

    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer, default=0)


class CaseMonth(CasesPerMonth, Base):
    """The cases each node raised: the statistics page's requests by category read these rows instead of a year of
    cases. Kept by the database's triggers on `case_record` (revision 0032), never written by the app; local to
    each node."""

    __tablename__ = "case_month"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class UnitCaseMonth(CasesPerMonth, Base):
    """The cases given to each police unit (whatever it did with them): a liaison's requests by category, as
    `case_month` is a node's. Kept by the database's triggers on `case_unit` and `case_record` (revision 0032)."""

    __tablename__ = "unit_case_month"

    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class UnitMonth(Base):
    """Per police unit and month of its dispatch (Beijing time): the dispatches it is now on, and how many of their
    sign-fors and reports back were done, and done in time. A step not yet done is judged by the page against the
    clock (`ix_case_unit_open_steps`), since it turns late while nothing is written.

    Kept by the database's triggers on `case_unit` (revision 0032), never written by the app; local to each node.
    """

    __tablename__ = "unit_month"

    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    dispatched: Mapped[int] = mapped_column(Integer, default=0)
    signed: Mapped[int] = mapped_column(Integer, default=0)
    signed_on_time: Mapped[int] = mapped_column(Integer, default=0)
    reported: Mapped[int] = mapped_column(Integer, default=0)
    reported_on_time: Mapped[int] = mapped_column(Integer, default=0)


class CaseSequence(Base):
    """Local numbering per node and year: numbers are unique without asking the hub."""

    __tablename__ = "case_sequence"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
