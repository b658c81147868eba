"""The routine cycle's reports (Art. 18(1)): the monthly digest, the quarterly scorecard, the half year's and the
year's figures. Compiled at the hub from its rows; the office adds its analysis and guidance and publishes."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, new_id, utcnow


class Report(Base):
    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("kind", "period", name="uq_report_kind_period"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))  # monthly / quarterly / semiannual / annual
    period: Mapped[str] = mapped_column(String(16))  # 2026-11 / 2026-Q4 / 2026-H2 / 2026
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft / published
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    analysis: Mapped[str] = mapped_column(Text, default="")
    guidance: Mapped[str] = mapped_column(Text, default="")  # 指导意见
    compiled_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    published_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    bulletin_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
