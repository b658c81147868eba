"""Attachment files in the hub's database: the BlobStore of a hub of several hosts on one PostgreSQL.

The same promises as the disk store (common/attachments/blobs.py): a file is found by its sha256 and served only
once its bytes have been checked against it; an upload under way grows only at its current end. The bytes are
rows of `hub_blob_chunk` of at most CHUNK bytes each, written, hashed and streamed a piece at a time, so a large
file is never in memory whole; a file is complete when its `hub_blob` row exists.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Iterator

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from common.attachments.blobs import CHUNK, BlobMismatch, Blobs, BlobStore
from common.attachments.models import HubBlob, HubBlobChunk
from common.db import Database
from common.settings import Settings

_END = func.coalesce(func.max(HubBlobChunk.position + func.length(HubBlobChunk.data)), 0)


class DatabaseBlobStore:
    """The disk store's interface (valid, has, put, offset, append, complete, read, head) on the hub's database."""

    valid = staticmethod(BlobStore.valid)

    def __init__(self, db: Database, max_upload_bytes: int | None = None, earlier: BlobStore | None = None) -> None:
        """`earlier`: the files a hub kept on its disk before (this host's data dir), still served from there until
        `lianfu hub blobs migrate` has moved them in; nothing new is written there."""
        self.db = db
        self.max_upload_bytes = max_upload_bytes
        self.earlier = earlier

    def _check(self, sha: str) -> None:
        if not self.valid(sha):
            raise ValueError("not a sha256")

    def _kept(self, sha: str) -> bool:
        """In the database, complete."""
        if not self.valid(sha):
            return False
        with self.db.reads() as session:
            return session.scalar(select(HubBlob.size).where(HubBlob.sha256 == sha)) is not None

    def _on_disk(self, sha: str) -> bool:
        return self.earlier is not None and self.earlier.has(sha)

    def has(self, sha: str) -> bool:
        return self._kept(sha) or self._on_disk(sha)

    def size(self, sha: str) -> int | None:
        with self.db.reads() as session:
            size = session.scalar(select(HubBlob.size).where(HubBlob.sha256 == sha))
        if size is None and self.earlier is not None and self._on_disk(sha):
            return self.earlier.path(sha).stat().st_size
        return size

    def put(self, data: bytes) -> str:
        """Keep a whole file (a page's upload); already here, nothing is written."""
        sha = hashlib.sha256(data).hexdigest()
        if self._kept(sha):
            return sha
        try:
            with self.db.transaction() as session:
                # What an upload cut off left of the same file goes: these bytes are the whole of it.
                session.execute(delete(HubBlobChunk).where(HubBlobChunk.sha256 == sha))
                self._write(session, sha, 0, data)
                session.execute(insert(HubBlob).values(sha256=sha, size=len(data)))
        except IntegrityError:
            # Another host stored the same file at the same moment: it is here, once.
            if not self._kept(sha):
                raise
        return sha

    def put_stream(self, sha: str, pieces: Iterable[bytes]) -> bool:
        """Keep a file read a piece at a time (a disk store's file moved in) if it hashes to `sha`: True when written,
        False when it was here already; BlobMismatch, nothing written, when its bytes are not what its name says."""
        self._check(sha)
        if self._kept(sha):
            return False
        digest = hashlib.sha256()
        size = 0
        try:
            with self.db.transaction() as session:
                session.execute(delete(HubBlobChunk).where(HubBlobChunk.sha256 == sha))
                for piece in pieces:
                    digest.update(piece)
                    self._write(session, sha, size, piece)
                    size += len(piece)
                if digest.hexdigest() != sha:
                    raise BlobMismatch(sha)  # rolls the pieces back
                session.execute(insert(HubBlob).values(sha256=sha, size=size))
        except IntegrityError:
            if not self._kept(sha):
                raise
            return False
        return True

    @staticmethod
    def _write(session, sha: str, start: int, data: bytes) -> None:  # noqa: ANN001
        view = memoryview(data)
        for at in range(0, len(data), CHUNK):
            session.execute(insert(HubBlobChunk).values(sha256=sha, position=start + at,
                                                        data=bytes(view[at:at + CHUNK])))

    def offset(self, sha: str) -> int:
        """How many bytes of a transfer under way are here already (the whole size when complete)."""
        self._check(sha)
        with self.db.reads() as session:
            size = session.scalar(select(HubBlob.size).where(HubBlob.sha256 == sha))
            if size is not None:
                return int(size)
            return int(session.scalar(select(_END).where(HubBlobChunk.sha256 == sha)) or 0)

    def append(self, sha: str, offset: int, chunk: bytes) -> int:
        """Add bytes at `offset` of a transfer under way; an offset other than the current size is refused (also
        when another host appended at the same offset a moment before: the primary key decides)."""
        self._check(sha)
        try:
            with self.db.transaction() as session:
                current = int(session.scalar(select(_END).where(HubBlobChunk.sha256 == sha)) or 0)
                if offset != current:
                    raise ValueError(f"expected offset {current}")
                self._write(session, sha, current, chunk)
        except IntegrityError:
            raise ValueError(f"expected offset {self.offset(sha)}") from None
        return current + len(chunk)

    def _positions(self, sha: str, start: int = 0) -> list[tuple[int, int]]:
        """(position, length) of each piece that holds bytes at or after `start`, in order."""
        with self.db.reads() as session:
            rows = session.execute(select(HubBlobChunk.position, func.length(HubBlobChunk.data))
                                   .where(HubBlobChunk.sha256 == sha,
                                          HubBlobChunk.position + func.length(HubBlobChunk.data) > start)
                                   .order_by(HubBlobChunk.position))
            return [(int(position), int(length)) for position, length in rows]

    def _piece(self, sha: str, position: int) -> bytes:
        # Each piece in its own short read: a slow download holds no connection between pieces.
        with self.db.reads() as session:
            return bytes(session.scalar(select(HubBlobChunk.data).where(HubBlobChunk.sha256 == sha,
                                                                         HubBlobChunk.position == position)) or b"")

    def _pieces(self, sha: str, start: int = 0) -> Iterator[bytes]:
        for position, _length in self._positions(sha, start):
            piece = self._piece(sha, position)
            yield piece[start - position:] if position < start else piece

    def complete(self, sha: str) -> None:
        """Verify a finished transfer and mark it complete, or throw its bytes away."""
        self._check(sha)
        digest = hashlib.sha256()
        size = 0
        expected = 0
        for position, length in self._positions(sha):
            if position != expected:
                break  # a hole cannot hash right: refused below
            piece = self._piece(sha, position)
            digest.update(piece)
            size += len(piece)
            expected = position + length
        if digest.hexdigest() != sha:
            with self.db.transaction() as session:
                session.execute(delete(HubBlobChunk).where(HubBlobChunk.sha256 == sha))
            raise BlobMismatch(sha)
        try:
            with self.db.transaction() as session:
                session.execute(insert(HubBlob).values(sha256=sha, size=size))
        except IntegrityError:
            pass  # completed by another host at the same moment: the same verified bytes

    def read(self, sha: str, start: int = 0) -> Iterator[bytes]:
        """The file from byte `start`, a piece at a time (streamed, never whole in memory)."""
        # A generator throughout: even the first query runs where the pieces are read (a worker thread when
        # streamed), not on the event loop that builds the response.
        self._check(sha)
        if not self._kept(sha):
            if self.earlier is None or not self._on_disk(sha):
                raise FileNotFoundError(sha)
            yield from self.earlier.read(sha, start)
            return
        yield from self._pieces(sha, start)

    def head(self, sha: str, size: int = 64) -> bytes:
        """The first bytes of a blob: enough to tell a picture from anything else."""
        self._check(sha)
        if self.earlier is not None and not self._kept(sha) and self._on_disk(sha):
            return self.earlier.head(sha, size)
        with self.db.reads() as session:
            return bytes(session.scalar(select(func.substr(HubBlobChunk.data, 1, size))
                                        .where(HubBlobChunk.sha256 == sha, HubBlobChunk.position == 0)) or b"")


def blob_store_for(settings: Settings, db: Database) -> "Blobs":
    """The hub's store of attachment files, as LIANFU_BLOB_STORE says (the database by default on PostgreSQL)."""
    limit = settings.max_upload_mb * 1024 * 1024
    if settings.blobs_in_database:
        disk = settings.data_dir / "blobs"
        return DatabaseBlobStore(db, limit, earlier=BlobStore(disk) if disk.is_dir() else None)
    return BlobStore(settings.data_dir / "blobs", limit)
