"""The marks of a spoke's scope: what the hub's triggers keep per node and entity, read instead of the tables.

A round with nothing to do is answered from them. They are read as named parts — the entities' marks, the open
conflicts, the read's horizon, the entities counted by audience, the bulletins' files, the directory, the spoke's
peer row — each its own
select; the parts go to the database as one statement (one round trip on every round of every spoke) and each row
comes back tagged with its part's name, read by column name.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable

from sqlalchemy import BigInteger, Integer, Text, Uuid, case, cast, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from common import policy
from common.models import Attachment, Bulletin, Node, Setting, SyncConflict, SyncMark, SyncPeer, User
from common.policy import Principal
from sync.cursors import ZERO_ID, start_position
from sync.entities import BY_NAME, ENTITIES, Entity
from sync.hub.pull import HORIZON
from sync.hub.scope import BY_AUDIENCE, CHECKSUM_MODULUS, MAX_ID


@dataclass
class PeerNote:
    """What the spoke's peer row says of its last round (a quiet round that would say the same writes nothing)."""

    queued: int
    lag_seconds: float
    digest_ok: bool
    schema: str
    last_success_at: datetime | None


class Marks:
    """What the triggers keep for a scope: per pulled entity the greatest (version, id), the row count and the
    checksum of versions; and the greatest version of a row that left one of its nodes."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[int, uuid.UUID]] = {}
        self.digest: dict[str, list[int]] = {e.name: [0, 0] for e in ENTITIES if e.pull}
        self.moved = 0
        # PostgreSQL's oldest transaction still running when the marks were read (see SEEN); None elsewhere.
        self.horizon: int | None = None
        # A tag of the spoke's directory (its node's accounts, the nodes, the office's lists): see directory_tag.
        self.directory: str | None = None
        # The scope's open conflicts.
        self.conflicts = 0
        # The spoke's peer row as the same statement saw it (None: no row yet).
        self.peer: PeerNote | None = None

    def reach(self, entity: str, version: int, row_id: uuid.UUID | None) -> None:
        """A row of `entity` at (version, id) is in the scope: the scope reaches at least that far."""
        pair = (int(version), row_id or ZERO_ID)
        if entity not in self.last or pair > self.last[entity]:
            self.last[entity] = pair

    def nothing_after(self, cursors: dict[str, list[Any]]) -> bool:
        """Whether no row of the scope lies after the cursors (a false "something" only costs an ordinary pull)."""
        return all(start_position(cursors.get(name)) >= pair for name, pair in self.last.items())


# --- the parts: each a select of (part, version, row_id, rows, checksum) ----------------------------------------

def _part(name: Any, version: Any, row_id: Any, rows: Any, checksum: Any) -> Any:
    return select(name.label("part"), version.label("version"), row_id.label("row_id"), rows.label("rows"),
                  checksum.label("checksum"))


def _no_id() -> Any:
    return literal(None, Uuid)


def _zero() -> Any:
    return literal(0, BigInteger)


def entity_marks(subtree_ids: list[str]) -> Any:
    """The marks of the scope's nodes, and of every node for the entities sent by audience (the pull tells)."""
    return _part(SyncMark.entity, SyncMark.version, SyncMark.row_id, SyncMark.rows, SyncMark.checksum) \
        .where(or_(SyncMark.node_id.in_(subtree_ids), SyncMark.entity.in_(sorted(BY_AUDIENCE))))


def open_conflicts(subtree_ids: list[str]) -> Any:
    return _part(literal("_conflicts"), _zero(), _no_id(), func.count(), _zero()).select_from(SyncConflict) \
        .where(SyncConflict.status == "open", SyncConflict.node_id.in_(subtree_ids))


def horizon() -> Any:
    """The horizon of the statement's own snapshot (see SEEN in sync/wire.py): the marks are what it saw."""
    return _part(literal("_horizon"), HORIZON, _no_id(), _zero(), _zero())


def counted_marks(entity: Entity, spoke: Principal) -> Any:
    """An entity sent by audience, counted in the scope (its marks are any node's)."""
    return _part(literal(f"_counted:{entity.name}"), _zero(), _no_id(), func.count(),
                 func.coalesce(func.sum(entity.table.c.version % CHECKSUM_MODULUS), 0)) \
        .select_from(entity.table).where(policy.in_scope(entity.model, spoke))


def file_marks(subtree_ids: list[str], spoke: Principal) -> Any:
    """The files of the bulletins addressed to the scope (held at the office's node): counted, and the newest."""
    files = Attachment.__table__
    return _part(literal("_files"), func.coalesce(func.max(files.c.version), 0), _no_id(), func.count(),
                 func.coalesce(func.sum(files.c.version % CHECKSUM_MODULUS), 0)) \
        .select_from(files) \
        .where(files.c.entity_type == "bulletin", files.c.node_id.not_in(subtree_ids),
               files.c.entity_id.in_(select(Bulletin.id).where(policy.in_scope(Bulletin, spoke))))


def directory_marks(node_id: str) -> list[Any]:
    """What the spoke's directory is made of (sync/directory.py): its node's accounts, the nodes (a small table), the
    office's lists (their last change's time in the name). A change to any of them changes the directory's tag."""
    users, nodes, lists = User.__table__, Node.__table__, Setting.__table__
    return [
        _part(literal("_dir:users"), func.coalesce(func.max(users.c.version), 0), _no_id(), func.count(),
              func.coalesce(func.sum(users.c.version % CHECKSUM_MODULUS), 0))
        .select_from(users).where(users.c.node_id == node_id),
        _part(literal("_dir:nodes"), func.coalesce(func.max(nodes.c.version), 0), _no_id(), func.count(),
              func.coalesce(func.sum(nodes.c.version % CHECKSUM_MODULUS), 0)).select_from(nodes),
        _part(literal("_dir:lists:") + func.coalesce(cast(func.max(lists.c.updated_at), Text), ""), _zero(), _no_id(),
              func.count(), _zero()).select_from(lists),
    ]


def peer_marks(node_id: str) -> Any:
    """The spoke's peer row: its queue in `version`, whether its digest matched in `rows`, and the lag, the time of
    its last success and its schema in the part's name (`_peer|lag|time|schema`), read back by _read_peer."""
    peers = SyncPeer.__table__
    name = (literal("_peer|") + func.coalesce(cast(peers.c.lag_seconds, Text), "0") + "|"
            + func.coalesce(cast(peers.c.last_success_at, Text), "") + "|" + func.coalesce(peers.c.schema, ""))
    return _part(name, cast(peers.c.queued, BigInteger), _no_id(),
                 case((peers.c.digest_ok.is_(True), 1), else_=0).cast(Integer), _zero()) \
        .select_from(peers).where(peers.c.node_id == node_id)


@lru_cache(maxsize=1024)
def _statement(dialect: Any, subtree: frozenset[str], node_id: str) -> tuple[str, Any]:
    """The parts of one scope's marks as one statement, compiled once (it runs on every round of every spoke)."""
    spoke = Principal(None, "", "spoke", "", subtree=subtree)
    subtree_ids = sorted(subtree)
    parts = [entity_marks(subtree_ids), open_conflicts(subtree_ids)]
    if dialect.name.startswith("postgres"):
        parts.append(horizon())
    parts.extend(counted_marks(BY_NAME[name], spoke) for name in sorted(BY_AUDIENCE))
    parts.append(file_marks(subtree_ids, spoke))
    parts.extend(directory_marks(node_id))
    parts.append(peer_marks(node_id))
    compiled = union_all(*parts).compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    if compiled.positional:
        return str(compiled), tuple(compiled.params[name] for name in compiled.positiontup or ())
    return str(compiled), dict(compiled.params)


# --- reading the parts back -------------------------------------------------------------------------------------

def _read_entity(found: Marks, row: Any, _directory: list[str]) -> None:
    if row.part == "_move":
        found.moved = max(found.moved, int(row.version))
        return
    if row.part not in found.digest:
        return
    row_id = row.row_id
    if row_id is not None and not isinstance(row_id, uuid.UUID):
        row_id = uuid.UUID(str(row_id))  # SQLite hands back the stored text
    if row.rows:
        found.reach(row.part, row.version, row_id)
    if row.part in BY_AUDIENCE:
        return  # any node's: whether anything after the cursor is addressed to this spoke is the pull's to tell
    found.digest[row.part][0] += int(row.rows)
    found.digest[row.part][1] += int(row.checksum)


def _read_conflicts(found: Marks, row: Any, _directory: list[str]) -> None:
    found.conflicts = int(row.rows)


def _read_horizon(found: Marks, row: Any, _directory: list[str]) -> None:
    found.horizon = int(row.version)


def _read_counted(found: Marks, row: Any, _directory: list[str]) -> None:
    found.digest[row.part.split(":", 1)[1]] = [int(row.rows), int(row.checksum)]


def _read_files(found: Marks, row: Any, _directory: list[str]) -> None:
    if int(row.rows):
        # A bulletin's files, held at the office's node, travel to the spokes the bulletin is addressed to.
        found.digest["attachment"][0] += int(row.rows)
        found.digest["attachment"][1] += int(row.checksum)
        found.reach("attachment", row.version, MAX_ID)


def _read_directory(found: Marks, row: Any, directory: list[str]) -> None:
    directory.append("/".join(str(value) for value in (row.part, row.version, row.rows, row.checksum)))


def _read_peer(found: Marks, row: Any, _directory: list[str]) -> None:
    _tag, lag, when, schema = row.part.split("|", 3)
    last_success_at = None
    if when:
        last_success_at = datetime.fromisoformat(when)
        if last_success_at.tzinfo is None:
            last_success_at = last_success_at.replace(tzinfo=timezone.utc)  # SQLite keeps UTC without the offset
    found.peer = PeerNote(queued=int(row.version), lag_seconds=float(lag), digest_ok=bool(row.rows), schema=schema,
                          last_success_at=last_success_at)


_READERS: dict[str, Callable[[Marks, Any, list[str]], None]] = {
    "_conflicts": _read_conflicts, "_horizon": _read_horizon, "_files": _read_files}


def _reader(part: str) -> Callable[[Marks, Any, list[str]], None]:
    if part.startswith("_dir:"):
        return _read_directory
    if part.startswith("_counted:"):
        return _read_counted
    if part.startswith("_peer|"):
        return _read_peer
    return _READERS.get(part, _read_entity)


def read_marks(session: Session, spoke: Principal) -> Marks:
    """The marks of the spoke's scope, the digests of the entities counted by audience, its open conflicts and its
    directory's tag (what a round with nothing to do needs at the hub)."""
    connection = session.connection()
    sql, params = _statement(connection.dialect, spoke.subtree, spoke.node_id)
    found, directory = Marks(), []
    counted = []
    for row in connection.exec_driver_sql(sql, params).all():
        reader = _reader(row.part)
        if reader is _read_counted:
            counted.append(row)  # replaces what the marks say of the entity, whatever order the rows come in
            continue
        reader(found, row, directory)
    for row in counted:
        _read_counted(found, row, directory)
    found.directory = directory_tag(directory)
    return found


def directory_tag(parts: list[str]) -> str:
    """What a spoke's directory is made of, summed up: a different tag, a different directory (a spoke fetches it
    again when the tag it last took changes). From each part's newest version or time, its count and its checksum."""
    return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:24]


def digests(session: Session, spoke: Principal) -> dict[str, list[int]]:
    """Per pulled entity, [rows, checksum of their versions] in the spoke's scope, from the marks."""
    return read_marks(session, spoke).digest


def _counted(session: Session, spoke: Principal, entity: Entity) -> list[int]:
    table = entity.table
    count, total = session.execute(select(func.count(), func.coalesce(func.sum(table.c.version % CHECKSUM_MODULUS), 0))
                                   .where(policy.in_scope(entity.model, spoke))).one()
    return [int(count), int(total)]


def digests_counted(session: Session, spoke: Principal) -> dict[str, list[int]]:
    """The same, counted row by row: what the marks must always equal."""
    return {entity.name: _counted(session, spoke, entity) for entity in ENTITIES if entity.pull}


def scoped_ids(session: Session, spoke: Principal, entity: Entity) -> list[str]:
    return [str(i) for i in session.scalars(select(entity.table.c.id).where(policy.in_scope(entity.model, spoke)))]
