"""Run the one Alembic history against a hub's or a spoke's database."""
from __future__ import annotations

import functools
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# The advisory lock every migration of a PostgreSQL database runs under (any fixed number; "lianfu migrate").
MIGRATION_LOCK = 0x6C69616E6D6967


@contextmanager
def migration_lock(url: str) -> Iterator[Connection | None]:
    """On PostgreSQL, a connection holding the migration advisory lock until the block ends (None on SQLite, where
    one node's file has one migrating process): a second host migrating at the same time waits here, then finds
    the schema at head and nothing to do."""
    if not url.startswith("postgres"):
        yield None
        return
    from sqlalchemy import pool, text

    from common.db import make_engine

    engine = make_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            # Session-level: it outlives the transactions Alembic commits on this connection.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head", connection: Connection | None = None) -> None:
    """`alembic upgrade`; on PostgreSQL under the migration lock (on `connection` when the caller holds it)."""
    if connection is None:
        with migration_lock(url) as locked:
            return upgrade(url, revision, locked) if locked is not None else command.upgrade(alembic_config(url), revision)
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    connection.commit()


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Raise if the models and the migrations disagree."""
    command.check(alembic_config(url))


@functools.lru_cache(maxsize=1)
def head_and_previous() -> tuple[str, str | None]:
    """The schema revision this release migrates to, and the one before it (a spoke one release behind); read
    once per process (the migrations do not change under a running release)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head() or ""
    revision = script.get_revision(head) if head else None
    previous = revision.down_revision if revision is not None else None
    return head, previous if isinstance(previous, str) else None
