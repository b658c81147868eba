"""The node answers who it is, and every JSON endpoint is in the OpenAPI document."""
from __future__ import annotations

from typing import Any

import pytest


def test_healthz_names_role_node_and_database(clients: Any, db_kind: str) -> None:
    response = clients().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["role"] == "hub" and body["node"] == "hub"
    assert body["database"] == db_kind and body["db"] == db_kind and body["version"]


def test_openapi_lists_every_resource(clients: Any) -> None:
    schema = clients().get("/schema/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    paths = schema["paths"]
    for resource in ("enterprises", "people", "cases", "visits", "bulletins", "applications", "nodes"):
        assert f"/api/v1/{resource}" in paths, resource
    assert "/api/v1/cases/{case_id}/events" in paths
    assert "/api/v1/applications/{application_id}/decision" in paths
    assert "/api/v1/bulletins/{bulletin_id}/ack" in paths


def test_json_columns_read_back_what_was_written(db: Any) -> None:
    """JSON columns are read with msgspec; what only the standard library reads (NaN, which SQLite stores as
    json.dumps writes it and PostgreSQL refuses) still reads."""
    import math

    from common.models import SyncState

    value: dict[str, Any] = {"versions": {"name": [2**60 + 7, "sc-shanghai"]}, "text": "浦东新区",
                             "nested": [None, True, 1.5]}
    if db.dialect == "sqlite":
        value["odd"] = float("nan")
    with db.transaction() as session:
        session.add(SyncState(key="json-check", value=value))
    with db.reads() as session:
        read = session.get(SyncState, "json-check").value
    if db.dialect == "sqlite":
        assert math.isnan(read.pop("odd"))
        value.pop("odd")
    assert read == value


def test_a_sqlite_database_syncs_each_commit_to_disk_and_lets_readers_work_beside_a_writer(tmp_path: Any) -> None:
    """A spoke's confirmed writes survive a power cut (the WAL synced at every commit, not only at checkpoints), and
    its pages read while sync writes (WAL)."""
    from common.db import Database

    database = Database.connect(f"sqlite:///{tmp_path / 'spoke.db'}")
    try:
        raw = database.engine.raw_connection()
        try:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        finally:
            raw.close()
    finally:
        database.dispose()


def test_only_a_write_whose_rows_can_be_had_again_commits_without_syncing_to_disk(tmp_path: Any) -> None:
    """A spoke's sync writes (relaxed_transaction: rows pulled, stamped or acknowledged, all the hub's) commit with the WAL
    not synced (NORMAL); every other write on the same connection, before or after, is synced (FULL)."""
    from sqlalchemy import text
    from sqlalchemy.pool import StaticPool

    from common.db import Database
    from sync.fastpath import relaxed_transaction

    database = Database.connect(f"sqlite:///{tmp_path / 'spoke.db'}", poolclass=StaticPool)  # one connection
    try:
        level = text("PRAGMA synchronous")
        with database.transaction() as session:
            session.execute(text("CREATE TABLE t (n INTEGER)"))
            assert session.execute(level).scalar() == 2  # FULL
        with relaxed_transaction(database) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            assert session.execute(level).scalar() == 1  # NORMAL
        with relaxed_transaction(database) as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
            assert session.execute(level).scalar() == 1
        with database.transaction() as session:
            session.execute(text("INSERT INTO t VALUES (3)"))
            assert session.execute(level).scalar() == 2  # set back before this write began
        with database.reads() as session:
            assert session.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2, 3]
    finally:
        database.dispose()


@pytest.mark.postgresql
@pytest.mark.parametrize("db_kind", ["postgresql"])
def test_a_pooled_connection_is_pinged_only_after_sitting_idle_and_one_the_server_closed_is_replaced(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection back from the pool a moment ago is used without a round trip; one idle past the window is checked
    first, and when the server has closed it meanwhile the request gets a new one instead of an error."""
    from sqlalchemy import text

    from common import db as dbmodule
    from sync.fastpath import statement_reads

    database = dbmodule.Database.connect(db_url, pool_size=1, max_overflow=0)
    pings: list[int] = []
    plain_ping = database.engine.dialect.do_ping

    def counted(dbapi_conn: Any) -> bool:
        pings.append(1)
        return plain_ping(dbapi_conn)

    monkeypatch.setattr(database.engine.dialect, "do_ping", counted)
    try:
        with database.reads() as session:
            first_pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        for _ in range(3):
            with database.reads() as session:
                assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() == first_pid
        assert pings == []  # back a moment ago each time: no round trip before use

        # The server closes the pooled connection while it sits idle (a restart, an idle timeout).
        other = dbmodule.Database.connect(db_url)
        with statement_reads(other) as session:
            assert session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid}).scalar_one()
        other.dispose()
        monkeypatch.setattr(dbmodule, "IDLE_PING_SECONDS", 0.0)
        with database.reads() as session:
            second_pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert pings == [1] and second_pid != first_pid
    finally:
        database.dispose()
