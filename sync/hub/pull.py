"""The pull at the hub: pages of a spoke's scope after its cursors, and the rows that left the scope."""
from __future__ import annotations

import uuid
from collections import defaultdict
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Text, Uuid, and_, cast, func, literal, literal_column, or_, select, tuple_
from sqlalchemy.orm import Session

from common import policy
from common.clock import clock
from common.models import BulletinAudience, SyncMove
from common.policy import Principal
from sync.cursors import ZERO_ID, answered, seen_position, start_position
from sync.entities import BY_NAME, ENTITIES, HUB_ONLY
from sync.hub.scope import BY_AUDIENCE
from sync.wire import Drop, PullAnswer, PullRow

if TYPE_CHECKING:
    from sync.hub.marks import Marks


def pull_page(session: Session, spoke: Principal, cursors: dict[str, list[Any]], limit: int,
              found: "Marks | None" = None, read_at: int | None = None, horizons: bool = False) -> PullAnswer:
    """The next rows of the spoke's scope after its cursors, entity by entity, at most `limit` of them. With the
    scope's marks (`found`, read after `read_at` was taken), an entity with nothing after its cursor is not read.
    With `horizons` (a spoke that takes them) and the marks of a PostgreSQL hub, each cursor answered carries the
    read's horizon, and a cursor that comes back with one skips the rows the spoke already has (SEEN in
    sync/wire.py)."""
    rows: list[PullRow] = []
    out: dict[str, list[Any]] = {}
    more = False
    if read_at is None:
        read_at = clock.now()  # taken before reading: see OVERLAP in sync/wire.py
    # The marks' own (their statement ran before anything the page answers from was read): see SEEN.
    horizon = found.horizon if horizons and found is not None else None
    for entity in ENTITIES:
        if not entity.pull:
            continue
        room = limit - len(rows)
        if room <= 0:
            more = True
            break
        table = entity.table
        value = cursors.get(entity.name)
        version, after = start_position(value)
        seen = seen_position(value) if horizon is not None else None
        if found is not None and (version, after) >= found.last.get(entity.name, (0, ZERO_ID)):
            # Nothing after the cursor (nor, then, between it and the rows seen before). For bulletins the marks hold
            # the newest of any audience (a change of audience is a new version): nothing newer, nothing to read.
            out[entity.name] = answered(max((version, after), seen[0]) if seen else (version, after), read_at,
                                           horizon)
            continue
        sent = _sent_columns(entity.name)
        stmt = (select(*(table.c[name] for name in sent)).where(policy.in_scope(entity.model, spoke))
                .where(tuple_(table.c.version, table.c.id) > tuple_(literal(version, BigInteger()), literal(after, Uuid())))
                .order_by(table.c.version, table.c.id).limit(room + 1))
        if "pushed_by" in table.c:
            # Not the rows this spoke's own push made as they are: its push's answer gave it their versions.
            stmt = stmt.where(or_(table.c.pushed_by.is_(None), table.c.pushed_by != spoke.node_id,
                                  table.c.pushed_version != table.c.version))
        if seen is not None:
            stmt = stmt.where(not_seen(table, seen))
        # Rows as plain dicts built from the result's tuples (a mapping view per row costs more than the read).
        fetched = [dict(zip(sent, row)) for row in session.execute(stmt).tuples()]
        if len(fetched) > room:
            more, fetched = True, fetched[:room]
        if entity.name in BY_AUDIENCE:
            rows.extend(_with_audience(session, spoke, fetched))
        else:
            rows.extend(PullRow(entity.name, row) for row in fetched)
        position = (fetched[-1]["version"], fetched[-1]["id"]) if fetched else (version, after)
        if seen is not None and not more:
            # Read to the end: what lay between the cursor and the rows seen before was all skipped as seen.
            position = max(position, seen[0])
        if found is not None and not more and entity.name in found.last and found.last[entity.name] > position:
            # Read to the end of the scope as the marks showed it: what lies between was this spoke's own (skipped).
            position = found.last[entity.name]
        if entity.name in BY_AUDIENCE and not more:
            # Read to the end: the rows after the last one sent are all addressed elsewhere; the next pull starts
            # after them, so a quiet round can tell that nothing new is addressed to this spoke.
            last = session.execute(select(table.c.version, table.c.id).order_by(table.c.version.desc(), table.c.id.desc())
                                   .limit(1)).first()
            if last is not None and (last.version, last.id) > position:
                position = (last.version, last.id)
        out[entity.name] = answered(position, read_at, horizon)
        if more:
            break
    return PullAnswer(rows=rows, cursors=out, more=more, read_at=read_at)




# PostgreSQL's oldest transaction still running as a statement's snapshot saw it (64-bit): every transaction below
# it had ended, and the statement saw what those that committed wrote.
HORIZON = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)


def not_seen(table: Any, seen: tuple[tuple[int, uuid.UUID], int]) -> Any:
    """Not a row the spoke already has: one at or before the position it had read to, written by a transaction
    that had ended before that read began (so the read saw it). Row transaction ids are 32 bits and wrap: compared
    as PostgreSQL compares them, within 2³¹ of the horizon (rows of the last seconds are); ids below 3 are frozen
    (old, seen)."""
    (position, row_id), horizon = seen
    xid = literal_column(f"({table.name}.xmin::text::bigint)")
    low = literal(horizon % 2**32, BigInteger())
    before = or_(xid < 3, ((xid - low + 2**32) % 2**32) >= 2**31)
    return ~(and_(tuple_(table.c.version, table.c.id) <= tuple_(literal(position, BigInteger()), literal(row_id, Uuid())),
                  before))




def _with_audience(session: Session, spoke: Principal, fetched: list[Any]) -> list[PullRow]:
    """Bulletins with the nodes of the spoke's subtree they are addressed to (the spoke shows each node its own)."""
    ids = [row["id"] for row in fetched]
    audience: dict[uuid.UUID, list[str]] = defaultdict(list)
    if ids:
        for bulletin_id, node_id in session.execute(
                select(BulletinAudience.bulletin_id, BulletinAudience.node_id)
                .where(BulletinAudience.bulletin_id.in_(ids), BulletinAudience.node_id.in_(sorted(spoke.subtree)))
                .order_by(BulletinAudience.node_id)):
            audience[bulletin_id].append(node_id)
    return [PullRow("bulletin", row, audience=audience.get(row["id"], [])) for row in fetched]


@lru_cache(maxsize=None)
def _sent_columns(entity_name: str) -> tuple[str, ...]:
    """The columns of an entity a pull sends (all but the hub's own)."""
    return tuple(name for name in BY_NAME[entity_name].columns if name not in HUB_ONLY)



def drops_since(session: Session, spoke: Principal, since: int) -> tuple[list[Drop], int]:
    """Rows that left the spoke's scope after `since` and are still outside it."""
    subtree = sorted(spoke.subtree)
    moves = session.execute(select(SyncMove).where(SyncMove.from_node.in_(subtree), SyncMove.to_node.not_in(subtree),
                                                   SyncMove.version > since).order_by(SyncMove.version)).scalars().all()
    drops: dict[tuple[str, str], Drop] = {}
    cursor = since
    for move in moves:
        cursor = max(cursor, move.version)
        entity = BY_NAME.get(move.entity)
        if entity is None or (move.entity, move.row_id) in drops:
            continue
        row_id = uuid.UUID(move.row_id)
        if entity.name in BY_AUDIENCE:
            # No longer addressed to a node of the subtree (a bulletin whose targets the office narrowed).
            gone = session.scalar(select(entity.table.c.id).where(entity.table.c.id == row_id,
                                                                  policy.in_scope(entity.model, spoke))) is None
        else:
            now_at = session.scalar(select(entity.table.c.node_id).where(entity.table.c.id == row_id))
            gone = now_at is not None and now_at not in spoke.subtree
        if gone:
            drops[(move.entity, move.row_id)] = Drop(move.entity, move.row_id)
    return list(drops.values()), cursor
