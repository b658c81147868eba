"""Run the one Alembic history against a hub's or a spoke's database."""
from __future__ import annotations

import functools

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


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
