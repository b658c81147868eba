"""Pull cursors, typed: where the pull of one entity stands, and where the next pull of it starts.

On the wire they stay the lists every release has sent (a spoke one release behind syncs with this hub and back):
an answered cursor is [version, id, read_at] or [version, id, read_at, horizon]; a pull starts from [version, id],
or [start version, "", seen version, seen id, horizon] when it starts before rows the spoke has seen (see SEEN in
sync/wire.py). These functions are the only readers and writers of those lists.
"""
from __future__ import annotations

import uuid
from typing import Any

import msgspec

from sync.wire import OVERLAP

ZERO_ID = uuid.UUID(int=0)


class Cursor(msgspec.Struct, frozen=True):
    """Where the pull of one entity stands, as the hub answered it: after the row (`version`, `row_id`), read when the
    hub's clock said `read_at`, by a read whose horizon was `horizon` (PostgreSQL only)."""

    version: int
    row_id: str = ""
    read_at: int | None = None
    horizon: int | None = None

    @classmethod
    def from_wire(cls, value: list[Any]) -> "Cursor":
        read_at = int(value[2]) if len(value) > 2 else None
        horizon = int(value[3]) if len(value) > 3 and value[3] is not None else None
        return cls(int(value[0]), value[1] if isinstance(value[1], str) else str(value[1] or ""), read_at, horizon)

    def to_wire(self) -> list[Any]:
        value: list[Any] = [self.version, self.row_id]
        if self.read_at is not None:
            value.append(self.read_at)
            if self.horizon is not None:
                value.append(self.horizon)
        return value

    @property
    def kept(self) -> bool:
        """Whether a spoke keeps this cursor (one with the read's time: where its next pull resumes is known)."""
        return self.read_at is not None


class PullStart(msgspec.Struct, frozen=True):
    """Where a pull of one entity starts: after (`version`, `row_id`); with `seen`, the rows up to `seen`'s position
    written by transactions below its horizon are skipped (the spoke has them)."""

    version: int
    row_id: str = ""
    seen: Cursor | None = None

    def to_wire(self) -> list[Any]:
        if self.seen is None:
            return [self.version, self.row_id]
        return [self.version, self.row_id, self.seen.version, self.seen.row_id, self.seen.horizon]


def resume_from(cursor: Cursor) -> PullStart:
    """Where a pull of one entity starts again: exactly at its cursor, unless rows still being committed when that
    page was read could lie below it (then a little earlier; what comes twice applies as a no-op)."""
    read_at = cursor.read_at if cursor.read_at is not None else cursor.version
    start = min(cursor.version, read_at - OVERLAP)
    if start >= cursor.version:
        return PullStart(cursor.version, cursor.row_id)
    if cursor.horizon:
        return PullStart(max(0, start), "", cursor)
    return PullStart(max(0, start), "")


def next_start(cursor: Cursor) -> PullStart:
    """Where the page after one answered with `cursor` starts, within the same pull."""
    return PullStart(cursor.version, cursor.row_id)


# --- as the hub reads them: whatever a spoke sends, a malformed cursor starting from the beginning -----------------

def start_position(value: Any) -> tuple[int, uuid.UUID]:
    """Where a pull of one entity starts: [version, id], or [version, id, seen version, seen id, horizon]."""
    if isinstance(value, (list, tuple)) and len(value) in (2, 5):
        try:
            return int(value[0]), (uuid.UUID(str(value[1])) if value[1] else ZERO_ID)
        except (ValueError, TypeError):
            pass
    return 0, ZERO_ID


def seen_position(value: Any) -> tuple[tuple[int, uuid.UUID], int] | None:
    """Of a cursor that starts before the rows a spoke has seen: the position it had read to and that read's
    horizon (see SEEN in sync/wire.py). None for any other cursor, or one that does not parse."""
    if isinstance(value, (list, tuple)) and len(value) == 5:
        try:
            horizon = int(value[4])
            if horizon > 0:
                return (int(value[2]), uuid.UUID(str(value[3])) if value[3] else ZERO_ID), horizon
        except (ValueError, TypeError):
            pass
    return None


def answered(position: tuple[int, uuid.UUID], read_at: int, horizon: int | None) -> list[Any]:
    """A cursor as the hub answers it, on the wire."""
    row_id = str(position[1]) if position[1] != ZERO_ID else ""
    return Cursor(position[0], row_id, read_at, horizon).to_wire()
