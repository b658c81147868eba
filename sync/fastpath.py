"""The bulk fast path of sync (and of the hub's machine-token check): shortcuts around the ordinary session pattern.

Everything else reads with `Database.reads` and writes with `Database.transaction`. Here only: reads whose
statements stand alone, writes whose rows can always be had again, fixed statements compiled once, and the garbage
collector paused around a large decode.
"""
from __future__ import annotations

import gc
import weakref
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

from sqlalchemy import CursorResult, Engine
from sqlalchemy.orm import Session, sessionmaker

from common.db import Database, committed

# Per engine, its fast-path session factories (built at first use: a sessionmaker makes a class, too dear per round).
_MAKERS: "weakref.WeakKeyDictionary[Engine, tuple[sessionmaker[Session], sessionmaker[Session]]]" = \
    weakref.WeakKeyDictionary()


def _makers(db: Database) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    makers = _MAKERS.get(db.engine)
    if makers is None:
        statement = db.reads
        if db.dialect == "postgresql":
            # Each statement of a READ COMMITTED transaction sees its own snapshot anyway: without the transaction,
            # a request that reads once or twice (a sync round) saves its BEGIN and ROLLBACK, two round trips.
            statement = sessionmaker(db.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False,
                                     info=dict(db.info))
        relaxed = db.writes
        if db.dialect == "sqlite":
            # Committed with the WAL not synced to disk (synchronous=NORMAL): a power cut may undo the last of these
            # writes, never a part of one, never one committed before a write synced after it.
            relaxed = sessionmaker(db.engine.execution_options(writes=True, relaxed=True), expire_on_commit=False,
                                   info=dict(db.info))
        makers = _MAKERS[db.engine] = (statement, relaxed)
    return makers


def statement_reads(db: Database) -> Session:
    """A read session whose statements each stand alone: on PostgreSQL outside a transaction; on SQLite as
    `db.reads` (whose statements share one snapshot there). Use as `with statement_reads(db) as session`."""
    return _makers(db)[0]()


@contextmanager
def relaxed_transaction(db: Database) -> Iterator[Session]:
    """A write of rows that can always be had again (a spoke's sync: what it pulled, stamped or acknowledged is the
    hub's, and a batch whose acknowledgement is lost is sent again and applied once). On SQLite its commit is not
    synced to disk; on PostgreSQL it is `db.transaction()`."""
    with committed(_makers(db)[1]) as session:
        yield session


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


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block: decoding a large page makes many small objects at once, and
    the collections they would set off find nothing to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
