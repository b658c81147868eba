"""What the `lianfu hub` commands share: the hub's settings, its database, one transaction on it, a one-line
failure. A module of its own so each command module imports it, and hub/cli.py imports them all."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

import click
from sqlalchemy.orm import Session

from common.settings import load_settings


def _settings(db: str | None = None, **overrides: object):  # noqa: ANN202
    return load_settings("hub", db_url=db, **overrides)


def _database(settings, audit_key: bytes | None = None):  # noqa: ANN001, ANN202
    from common.db import Database

    return Database.connect(settings.database_url, audit_key=audit_key)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@contextmanager
def hub_transaction(settings) -> Iterator[Session]:  # noqa: ANN001
    """Migrate, then one write transaction on the hub database, closed whatever happens. Its audit entries are
    linked with the hub's audit key, as the app's are (the secret key as the app finds it)."""
    from common.audit.trail import chain_key
    from common.settings import ensure_secret_key

    settings = ensure_secret_key(settings)  # refused before anything is written (a production hub's shared key)
    prepare(settings)
    database = _database(settings, chain_key(settings.secret_key))
    try:
        with database.transaction() as session:
            yield session
    finally:
        database.dispose()


def prepare(settings) -> None:  # noqa: ANN001
    from common.bootstrap import prepare_database

    prepare_database(settings)
