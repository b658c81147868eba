"""Fixtures of the routine cycle's tests (tests/cycle/): a federation in one process, principals by account."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from common.db import Database
from common.policy import load_principal
from common.settings import Settings
from tests.sync_support import Federation


@pytest.fixture
def fed(settings: Settings, db: Database, world: dict[str, Any], tmp_path: Path) -> Iterator[Federation]:
    federation = Federation(settings, db, tmp_path / "spokes")
    yield federation
    federation.close()


@pytest.fixture
def principal_of() -> Any:
    """`principal_of(db, "office")`: the account as a principal of that database's node tree."""
    from common.models import User

    def get(db: Database, username: str) -> Any:
        with db.reads() as session:
            return load_principal(session, session.scalars(select(User).where(User.username == username)).one())

    return get
