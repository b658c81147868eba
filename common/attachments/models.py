"""Files attached to rows; the bytes live in the blob store by their digest."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, Pushed, Synced, utcnow


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


class HubBlob(Base):
    """A complete attachment file held in the hub's database, verified against its sha256 (LIANFU_BLOB_STORE=database).

    Hub-local, never synced: the `attachment` rows travel, the bytes follow on demand. Its bytes are the rows of
    `hub_blob_chunk` with this sha256; a file whose chunks are there but which has no row here is an upload under
    way (or one cut off), never served.
    """

    __tablename__ = "hub_blob"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)


class HubBlobChunk(Base):
    """One piece (at most CHUNK bytes) of a file in the hub's database, at its byte `position` in the file.

    Pieces rather than one BYTEA value per file: a 100 MB file is written, verified and streamed a megabyte at a
    time and never held in memory whole, and a resumable upload appends a piece per request. The primary key makes
    two hosts appending at the same offset at once collide, so one of them is told to resume instead.
    """

    __tablename__ = "hub_blob_chunk"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # When the piece came: the pieces of an upload left unfinished for long are cleared (common/attachments/leftovers.py).
    written_at: Mapped[datetime | None] = mapped_column(default=utcnow)
