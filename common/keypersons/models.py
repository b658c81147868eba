"""The key-person register (Art. 17(1)): police-only, kept at the hub, never synced to a spoke."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, new_id, utcnow


class KeyPerson(Base):
    __tablename__ = "key_person"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), index=True)
    id_number: Mapped[str] = mapped_column(String(18), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("enterprise.id"), default=None)
    # general / focus / strict: 一般关注 / 重点关注 / 严格管控
    control_level: Mapped[str] = mapped_column(String(16), default="general")
    responsible_unit: Mapped[str | None] = mapped_column(String(64), ForeignKey("unit.id"), default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class KeyPersonFollowUp(Base):
    """One follow-up of a key person: when, by whom, what was done or learned."""

    __tablename__ = "key_person_follow_up"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key_person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("key_person.id"), index=True)
    day: Mapped[date]
    by_user: Mapped[uuid.UUID | None] = mapped_column(default=None)
    by_name: Mapped[str] = mapped_column(String(100), default="")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
