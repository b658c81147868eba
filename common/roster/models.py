"""The roster: enterprises of the city operating elsewhere, and their people (Art. 4, 13)."""
from __future__ import annotations

import uuid
from datetime import date

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, Pushed, Synced, new_id, utcnow


class Enterprise(Base, Synced, Pushed):
    __tablename__ = "enterprise"
    __table_args__ = (
        # One live enterprise per credit code; a soft-deleted one does not block re-registration.
        Index(
            "uq_enterprise_credit_code_live",
            "credit_code",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_enterprise_node_id_id", "node_id", "id"),
        Index("ix_enterprise_industry_id", "industry", "id"),
        Index("ix_enterprise_region_code_id", "region_code", "id"),
        Index("ix_enterprise_is_key_id", "is_key", "id"),
        Index("ix_enterprise_risk_level_id", "risk_level", "id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    # Pinyin in full, then as initials (common/roster/service.py: name_pinyin): a substring of either is the pinyin of
    # a run of the name's characters, so typing "zjg" or "zhangjiagang" finds 张家港…, "jg" 启东建工…
    name_pinyin: Mapped[str] = mapped_column(String(600), default="")
    credit_code: Mapped[str] = mapped_column(String(18))
    region_code: Mapped[str] = mapped_column(String(6))
    address: Mapped[str] = mapped_column(String(300), default="")
    industry: Mapped[str] = mapped_column(String(32), default="other")
    is_key: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_company: Mapped[str] = mapped_column(String(200), default="")
    risk_level: Mapped[str] = mapped_column(String(16), default="low")  # low / medium / high
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    notes: Mapped[str] = mapped_column(Text, default="")


class Person(Base, Synced, Pushed):
    """Someone working for an enterprise; ID number and phone are masked unless the role needs them."""

    __tablename__ = "person"

    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enterprise.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    id_number: Mapped[str] = mapped_column(String(18), default="", index=True)
    phone: Mapped[str] = mapped_column(String(20), default="")
    position: Mapped[str] = mapped_column(String(100), default="")
    # The day the person left the enterprise: the record stays (cases and visits name them), shown as former staff.
    left_on: Mapped[date | None] = mapped_column(default=None)


class RosterImport(Base):
    """A workbook being imported through the pages: its bytes until it is written or given up, how far the check or
    the write has got, and the answer. Kept in the database, not in a process: any of the hub's processes shows
    its progress. Never synced: an import is done where it was uploaded and its rows sync as they are written."""

    __tablename__ = "roster_import"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    # Personal data: dropped once the import is written, fails or is left (an hour, see common/roster/import_pages.py).
    content: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # checking -> checked -> importing -> done; failed from any of them.
    status: Mapped[str] = mapped_column(String(16), default="checking")
    stage: Mapped[str] = mapped_column(String(16), default="reading")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    answer: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
