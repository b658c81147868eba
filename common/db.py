"""Engines and sessions: one pattern for hub and spoke, SQLite and PostgreSQL."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import msgspec
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import Session, sessionmaker


def _json_loads(value: str | bytes) -> Any:
    """JSON columns (every synced row's field versions) read with msgspec: the same values, about twice as fast;
    what only the standard library reads (NaN, as json.dumps writes it) still reads."""
    try:
        return msgspec.json.decode(value)
    except msgspec.DecodeError:
        return json.loads(value)


def make_engine(url: str, foreign_keys: bool = True, **kwargs: object) -> Engine:
    kwargs.setdefault("json_deserializer", _json_loads)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):  # noqa: ANN001
            # Let SQLAlchemy emit BEGIN itself, so write transactions can take the lock up front.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            # WAL lets readers and one writer work together; a spoke lives on one SQLite file. Each commit is synced
            # to disk (FULL): a write a spoke has confirmed (a visit logged on site) survives a power cut.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            # A commit folds the WAL back into the database (a checkpoint, with an fsync) only past 32 MB: a spoke's
            # sync checkpoints after each round it wrote in (Database.checkpoint), off the round's path.
            cur.execute("PRAGMA wal_autocheckpoint=8000")
            # A spoke holds a slice of the federation: a row there may name one outside its slice (an application's
            # host enterprise that moved to another sub-center), so its replica does not enforce references.
            cur.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            options = conn.get_execution_options()
            if options.get("writes"):
                # The commit's fsync, set before BEGIN (SQLite takes no change of it inside a transaction) and only
                # when it changes: FULL, or NORMAL for a write whose every row can be had again (`relaxed`).
                level = "NORMAL" if options.get("relaxed") else "FULL"
                info = conn.connection.info
                if info.get("synchronous", "FULL") != level:
                    conn.exec_driver_sql(f"PRAGMA synchronous={level}")
                    info["synchronous"] = level
            # A deferred transaction that reads and then writes can fail at once with SQLITE_BUSY when
            # another writer got in between; BEGIN IMMEDIATE waits for the lock instead.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("writes") else "BEGIN")

        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


# A pooled PostgreSQL connection idle this many seconds is checked with a round trip before use (the server may have
# closed it: a restart, an idle timeout, a network cut). One in use a moment ago is taken as it is: a sync round
# checks out a connection or two, and a ping each is a round trip it does not need. (A connection that died within
# the window fails its request, and the pool drops it and every older one, as after a failed ping.)
IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn, record):  # noqa: ANN001
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):  # noqa: ANN001
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return  # a fresh connection, or one back a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_conn, None):
                raise InvalidatePoolError(f"an idle connection had been closed: {error}") from error
            raise


# The key in `session.info` of the Principal a write is made for (see Database.transaction).
ACTOR = "actor"


@contextmanager
def committed(maker: sessionmaker[Session]) -> Iterator[Session]:
    """A session of `maker` that commits when the block ends well and rolls back otherwise."""
    with maker() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def dialect_name(engine: Engine) -> str:
    return "postgresql" if engine.dialect.name.startswith("postgres") else "sqlite"


@dataclass
class Database:
    """An engine with its two session factories: reads, and writes that lock early on SQLite. (The sync's bulk fast
    path, with its statement reads and relaxed writes, is fenced in sync/fastpath.py.)"""

    engine: Engine
    reads: sessionmaker[Session]
    writes: sessionmaker[Session]
    # What every session starts with in `session.info` (the audit key): for other factories on the same engine.
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def connect(cls, url: str, foreign_keys: bool = True, audit_key: bytes | None = None,
                **kwargs: object) -> "Database":
        """`audit_key`: the key the node links its audit chain with (common/audit/trail.py: chain_key), handed to every
        session in `session.info` so whoever writes an entry needs no settings; the database never holds it."""
        engine = make_engine(url, foreign_keys=foreign_keys, **kwargs)
        info = {"audit_key": audit_key} if audit_key else {}
        reads = sessionmaker(engine, expire_on_commit=False, info=info)
        writes = sessionmaker(engine.execution_options(writes=True), expire_on_commit=False, info=info)
        return cls(engine, reads, writes, info)

    @property
    def dialect(self) -> str:
        return dialect_name(self.engine)

    @contextmanager
    def transaction(self, actor: Any = None) -> Iterator[Session]:
        """A write session that commits when the block ends well and rolls back otherwise. `actor`: the Principal
        the write is made for, kept in `session.info` (a spoke's change capture records it with each change, and the
        hub accepts a change only from a known writer)."""
        with committed(self.writes) as session:
            if actor is not None:
                session.info[ACTOR] = actor
            yield session

    def checkpoint(self) -> tuple[int, int, int] | None:
        """Fold SQLite's WAL back into the database file as far as no reader still needs it (PASSIVE: waits for no
        one, blocks no one): (busy, frames in the WAL, frames folded). None on PostgreSQL."""
        if self.dialect != "sqlite":
            return None
        raw = self.engine.raw_connection()
        try:
            busy, frames, folded = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(busy), int(frames), int(folded)
        finally:
            raw.close()

    def dispose(self) -> None:
        self.engine.dispose()
