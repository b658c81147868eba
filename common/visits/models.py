"""Safety visits and risk information reports."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, Pushed, Synced


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


class LastVisit(Base):
    """Each live enterprise's last visit, beside what decides when the next one is due (its risk level) and whose
    plan it is on (its node): the visit plan reads it through its indexes rather than every enterprise and visit.

    Kept by the database's triggers on `enterprise` and `visit` (revision 0026), never written by the app; local to
    each node (an enterprise's visits move with it, so its node sees them all). Never synced.
    """

    __tablename__ = "last_visit"
    __table_args__ = (Index("ix_last_visit_risk_level_visited_at_name", "risk_level", "visited_at", "name"),
                      Index("ix_last_visit_node_id_risk_level_visited_at_name", "node_id", "risk_level", "visited_at",
                            "name"))

    enterprise_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64))
    risk_level: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    visited_at: Mapped[datetime | None] = mapped_column(default=None)


class VisitMonth(Base):
    """How many live visits each node logged in each month (Beijing time, `YYYY-MM`): the statistics page's visits
    by sub-center read these few rows instead of counting a year of visits.

    Kept by the database's triggers on `visit` (revision 0029), never written by the app; local to each node.
    """

    __tablename__ = "visit_month"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)


class InfoReport(Base, Synced, Pushed):
    """Risk information collected by units and sub-centers for the monthly digest (Art. 12, 18(1))."""

    __tablename__ = "info_report"

    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32), default="other")
    # The severity (low / medium / high): the contract's `severity`, kept in the column it always had.
    risk_level: Mapped[str] = mapped_column(String(16), default="low")
    source_unit: Mapped[str | None] = mapped_column(String(64), ForeignKey("unit.id"), default=None)
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("enterprise.id"), default=None)
    reported_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    region_code: Mapped[str | None] = mapped_column(String(6), default=None)
    industry: Mapped[str | None] = mapped_column(String(32), default=None)
    # Where it came from, in the reporter's words (a unit's name, a person, a group chat).
    source: Mapped[str] = mapped_column(String(200), default="")
    # submitted -> adopted | not_adopted, by the office at the hub, with its comment.
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def severity(self) -> str:
        return self.risk_level
