"""The spoke's sync state, typed: one Struct per row of the sync_state table, stored as the JSON it always was.

Each row is read and written as plain statements (a round reads and writes a few of them; the ORM's identity map and
unit of work cost more than the statements themselves). What an earlier release stored reads the same.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import msgspec
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from common.models import SyncState
from sync.cursors import Cursor
from sync.fastpath import run_compiled
from sync.wire import OVERLAP

_TABLE = SyncState.__table__
_READ_ALL = select(_TABLE.c.key, _TABLE.c.value)
_READ = select(_TABLE.c.value).where(_TABLE.c.key == bindparam("key"))
_UPDATE = update(_TABLE).where(_TABLE.c.key == bindparam("_key")).values(value=bindparam("_value"))


def _json(value: Any) -> dict[str, Any]:
    """A JSON column's value as the driver hands it back (text on SQLite, already decoded on PostgreSQL)."""
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    return dict(value or {})


def read_state(session: Session, key: str) -> dict[str, Any]:
    """One row of the sync state as stored (a dict; {} when there is none)."""
    value = run_compiled(session, _READ, key=key).scalar()
    return _json(value) if value is not None else {}


def write_state(session: Session, key: str, value: dict[str, Any]) -> None:
    if session.execute(_UPDATE, {"_key": key, "_value": value}).rowcount == 0:
        session.execute(insert(_TABLE), {"key": key, "value": value})


def read_all(session: Session) -> dict[str, dict[str, Any]]:
    return {key: _json(value) for key, value in run_compiled(session, _READ_ALL).all()}


class Stored(msgspec.Struct, kw_only=True):
    """A row of the sync state; `KEY` names it."""

    KEY: ClassVar[str] = ""


S = TypeVar("S", bound=Stored)


def convert(kind: type[S], stored: dict[str, Any] | None) -> S:
    return msgspec.convert(stored or {}, kind)


def load(session: Session, kind: type[S]) -> S:
    return convert(kind, read_state(session, kind.KEY))


def save(session: Session, value: Stored) -> None:
    write_state(session, value.KEY, msgspec.to_builtins(value))


class Epoch(Stored):
    """A token made once per spoke database: its batch ids never repeat those of an earlier machine."""

    KEY: ClassVar[str] = "epoch"
    token: str | None = None


class InFlight(Stored, omit_defaults=True):
    """The push batch sent and not yet acknowledged: sent again under its id when its answer never came. Stored
    empty when there is none."""

    KEY: ClassVar[str] = "in_flight"
    batch_id: str | None = None
    first: int | None = None
    last: int | None = None

    def __bool__(self) -> bool:
        return self.batch_id is not None


class BlobUploads(Stored):
    """Files whose rows the hub has acknowledged and whose bytes it still needs."""

    KEY: ClassVar[str] = "blob_uploads"
    pending: list[str] = []


class DirectoryCopy(Stored):
    """When the spoke last took the directory (ISO time), and the hub's tag of it then."""

    KEY: ClassVar[str] = "directory"
    at: str | None = None
    tag: str | None = None


class DropsCursor(Stored, omit_defaults=True):
    """Rows that left the scope were looked for up to `since`, by a look read at `read_at` (the hub's clock)."""

    KEY: ClassVar[str] = "drops"
    since: int = 0
    read_at: int = 0

    def next_look(self) -> int:
        """Where the next look starts: at the last one seen, or a little before it when that look was read while
        moves below it could still commit (as a pull's cursor: see resume_from)."""
        read_at = self.read_at or self.since
        return max(0, min(self.since, read_at - OVERLAP))


class LastRound(msgspec.Struct):
    pushed: int = 0
    pulled: int = 0
    dropped: int = 0
    conflicts: int = 0
    rejected: int = 0
    repaired: list[str] = []
    seconds: float = 0.0


class Status(Stored):
    """What the sync page and `lianfu sync status` show of the rounds (ISO times)."""

    KEY: ClassVar[str] = "status"
    last_attempt: str | None = None
    last_success: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    queued: int | None = None
    lag_seconds: float | None = None
    open_conflicts: int | None = None
    last_round: LastRound | None = None
    rejected: list[dict[str, str]] = []


def load_cursors(session: Session) -> dict[str, Cursor]:
    return cursors_of(read_state(session, "cursors"))


def cursors_of(stored: dict[str, Any]) -> dict[str, Cursor]:
    return {name: Cursor.from_wire(value) for name, value in stored.items()}


def save_cursors(session: Session, cursors: dict[str, Cursor]) -> None:
    write_state(session, "cursors", {name: cursor.to_wire() for name, cursor in cursors.items()})


@dataclass
class Snapshot:
    """What a round starts from, read in one transaction: the sync state, the outbox's length, and (when nothing
    waits to be sent) the digest of the slice."""

    stored: dict[str, dict[str, Any]]
    waiting: int
    digests: dict[str, list[int]] | None

    def get(self, kind: type[S]) -> S:
        return convert(kind, self.stored.get(kind.KEY))

    @property
    def cursors(self) -> dict[str, Cursor]:
        return cursors_of(self.stored.get("cursors") or {})
