"""Declarative base, portable types and the columns every synced entity carries."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, BigInteger, ForeignKey, MetaData, String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from uuid_utils.compat import uuid7

from common.clock import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> uuid.UUID:
    """UUIDv7: time-ordered, so ids made on any node index well and sort by creation."""
    return uuid7()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: DateTimeUTC(timezone=True),
        dict[str, Any]: JSON,
        list[Any]: JSON,
        uuid.UUID: Uuid,
    }


class Stamped:
    """Created/updated times, a hybrid-logical-clock version and a soft-delete mark."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(BigInteger, default=clock.now, onupdate=clock.now)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class Synced(Stamped):
    """A row that syncs: a UUIDv7 id and the node that owns it."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)

    @declared_attr
    def node_id(cls) -> Mapped[str]:  # noqa: N805
        # Not indexed alone: a synced table's pulls index it with the version (SYNCED_MODELS in models/sync.py),
        # which serves a lookup by node as well; one index fewer to write on every insert and update.
        return mapped_column(String(64), ForeignKey("node.id"))

    # When each field was last changed and where: {"name": [hlc, "sc-shanghai"], ...}; a field not listed is as
    # the row was made. Sync merges field by field with it.
    field_versions: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class Pushed:
    """A row spokes both send and receive: which spoke's push made its current version, and that version. While
    `pushed_version` equals `version`, that spoke holds the row exactly as the hub does (the push's answer gave it
    the version), so its pulls skip the row; any later write makes a new version and the row travels again."""

    pushed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    pushed_version: Mapped[int | None] = mapped_column(BigInteger, default=None)
