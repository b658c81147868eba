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
