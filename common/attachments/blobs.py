"""Content-addressed files (photos, documents) in a node's data dir: named by their sha256, verified before use."""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol

SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1024 * 1024


class BlobMismatch(ValueError):
    """The bytes do not hash to the name they came under."""


class Blobs(Protocol):
    """What the pages and the sync API ask of a store of attachment files, on disk (BlobStore: spokes, SQLite hubs)
    or in the hub's database (common/attachments/dbblobs.py: hubs on PostgreSQL)."""

    max_upload_bytes: int | None

    @staticmethod
    def valid(sha: str) -> bool: ...
    def has(self, sha: str) -> bool: ...
    def put(self, data: bytes) -> str: ...
    def offset(self, sha: str) -> int: ...
    def append(self, sha: str, offset: int, chunk: bytes) -> int: ...
    def complete(self, sha: str) -> None: ...
    def read(self, sha: str, start: int = 0) -> Iterator[bytes]: ...
    def head(self, sha: str, size: int = 64) -> bytes: ...


class BlobStore:
    """`root/ab/abcdef…` holds complete, verified blobs; `root/partial/` holds transfers under way.

    `max_upload_bytes` is the node's limit on one file a person attaches (`LIANFU_MAX_UPLOAD_MB`); None: no limit.
    """

    def __init__(self, root: Path, max_upload_bytes: int | None = None) -> None:
        self.root = root
        self.max_upload_bytes = max_upload_bytes

    @staticmethod
    def valid(sha: str) -> bool:
        return bool(SHA256.match(sha or ""))

    def path(self, sha: str) -> Path:
        if not self.valid(sha):
            raise ValueError("not a sha256")
        return self.root / sha[:2] / sha

    def partial(self, sha: str) -> Path:
        if not self.valid(sha):
            raise ValueError("not a sha256")
        return self.root / "partial" / sha

    def has(self, sha: str) -> bool:
        return self.valid(sha) and self.path(sha).exists()

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.has(sha):
            target = self.partial(sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            self.complete(sha)
        return sha

    def offset(self, sha: str) -> int:
        """How many bytes of a transfer under way are here already (the whole size when complete)."""
        if self.has(sha):
            return self.path(sha).stat().st_size
        part = self.partial(sha)
        return part.stat().st_size if part.exists() else 0

    def append(self, sha: str, offset: int, chunk: bytes) -> int:
        """Add bytes at `offset` of a transfer under way; an offset other than the current size is refused."""
        part = self.partial(sha)
        part.parent.mkdir(parents=True, exist_ok=True)
        current = part.stat().st_size if part.exists() else 0
        if offset != current:
            raise ValueError(f"expected offset {current}")
        with open(part, "ab") as handle:
            handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        return current + len(chunk)

    def complete(self, sha: str) -> None:
        """Verify a finished transfer and move it into the store, or throw it away."""
        part = self.partial(sha)
        digest = hashlib.sha256()
        with open(part, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
        if digest.hexdigest() != sha:
            part.unlink(missing_ok=True)
            raise BlobMismatch(sha)
        target = self.path(sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, target)

    def read(self, sha: str, start: int = 0) -> Iterator[bytes]:
        with open(self.path(sha), "rb") as handle:
            handle.seek(start)
            yield from iter(lambda: handle.read(CHUNK), b"")

    def open(self, sha: str) -> BinaryIO:
        return open(self.path(sha), "rb")

    def head(self, sha: str, size: int = 64) -> bytes:
        """The first bytes of a blob: enough to tell a picture from anything else."""
        with open(self.path(sha), "rb") as handle:
            return handle.read(size)
