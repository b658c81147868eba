"""Engines and sessions: one pattern for hub and spoke, SQLite and PostgreSQL."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

import msgspec
from sqlalchemy import CursorResult, Engine, create_engine, event
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


def dialect_name(engine: Engine) -> str:
    return "postgresql" if engine.dialect.name.startswith("postgres") else "sqlite"


@dataclass
class Database:
    """An engine with its session factories: reads, writes that lock early on SQLite, and `statement_reads`."""

    engine: Engine
    reads: sessionmaker[Session]
    writes: sessionmaker[Session]
    # Reads whose statements each stand alone: on PostgreSQL without a transaction (each statement of a READ
    # COMMITTED transaction sees its own snapshot anyway; this saves its BEGIN and ROLLBACK, two round trips of a
    # request that reads once or twice, as a sync round does). On SQLite the same as `reads` (whose statements share
    # one snapshot there).
    statement_reads: sessionmaker[Session]
    # Writes of rows that can always be had again (a spoke's sync: what it pulled, stamped or acknowledged is the
    # hub's, and a batch whose acknowledgement is lost is sent again and applied once). On SQLite its commit is not
    # synced to disk (WAL with synchronous=NORMAL): a power cut may undo the last of them, never a part of one, and
    # never one committed before a write synced after it (the WAL is replayed as a prefix). On PostgreSQL `writes`.
    relaxed_writes: sessionmaker[Session]

    @classmethod
    def connect(cls, url: str, foreign_keys: bool = True, audit_key: bytes | None = None,
                **kwargs: object) -> "Database":
        """`audit_key`: the key the node links its audit chain with (common/audit/trail.py: chain_key), handed to every
        session in `session.info` so whoever writes an entry needs no settings; the database never holds it."""
        engine = make_engine(url, foreign_keys=foreign_keys, **kwargs)
        info = {"audit_key": audit_key} if audit_key else {}
        reads = sessionmaker(engine, expire_on_commit=False, info=info)
        statement_reads = reads
        if dialect_name(engine) == "postgresql":
            statement_reads = sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False,
                                           info=info)
        writes = sessionmaker(engine.execution_options(writes=True), expire_on_commit=False, info=info)
        relaxed = writes
        if dialect_name(engine) == "sqlite":
            relaxed = sessionmaker(engine.execution_options(writes=True, relaxed=True), expire_on_commit=False, info=info)
        return cls(engine, reads, writes, statement_reads, relaxed)

    @property
    def dialect(self) -> str:
        return dialect_name(self.engine)

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Session]:
        """A write session that commits when the block ends well and rolls back otherwise. `durable=False`: a
        write of rows that can be had again (see `relaxed_writes`)."""
        with (self.writes if durable else self.relaxed_writes)() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

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


@lru_cache(maxsize=256)
def _compiled(statement: Any, dialect: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    order = tuple(compiled.positiontup or ()) if compiled.positional else None
    return str(compiled), order, dict(compiled.params)


def run_compiled(session: Session, statement: Any, **values: Any) -> CursorResult[Any]:
    """Run a fixed Core statement (a module-level constant with named bind parameters) compiled once per dialect:
    for statements on every request, no SQL is built, cached or keyed per call. Values go to the driver as given,
    without the column types' conversions, and rows come back as the driver makes them."""
    connection = session.connection()
    sql, order, defaults = _compiled(statement, connection.dialect)
    params = {**defaults, **values}
    return connection.exec_driver_sql(sql, tuple(params[name] for name in order) if order is not None else params)
