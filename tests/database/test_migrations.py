"""One Alembic history for hub and spoke: upgrade, models match, downgrade, upgrade — on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect

from common.db import Database
from common.migrate import check, downgrade, upgrade
from common.models import Base
from conftest import fresh_url


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_upgrade_check_downgrade_upgrade(kind: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    url = fresh_url(kind, tmp_path_factory, "migrations")
    upgrade(url)
    check(url)  # raises when the models and the migrations disagree
    database = Database.connect(url)
    tables = set(inspect(database.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    database.dispose()

    downgrade(url, "base")
    database = Database.connect(url)
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
    database.dispose()

    upgrade(url)
    check(url)


def test_every_synced_table_is_ready_for_sync() -> None:
    """UUIDv7 ids, the owning node, created/updated times, a version and a soft-delete mark on every synced entity."""
    synced = ["node_application", "user_account", "enterprise", "person", "case_record", "case_event", "visit",
              "bulletin", "bulletin_ack", "info_report", "attachment", "audit_entry", "notification"]
    for name in synced:
        columns = Base.metadata.tables[name].columns
        for column in ("id", "node_id", "created_at", "updated_at", "version", "deleted_at"):
            assert column in columns, f"{name}.{column}"
    node = Base.metadata.tables["node"].columns
    assert {"created_at", "updated_at", "version", "deleted_at", "path", "parent_id", "status"} <= set(node.keys())


def test_constraint_names_follow_the_convention() -> None:
    for table in Base.metadata.sorted_tables:
        for constraint in table.constraints:
            assert constraint.name, f"unnamed constraint on {table.name}"
