"""Lists the office keeps as data (a visit's checklist, visit cadences, the routing table), one JSON value per key."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, utcnow


class Setting(Base):
    """Kept at the hub, copied to every spoke with the directory; a key without a row means its default."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
