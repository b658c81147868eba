"""The throwaway PostgreSQL server the suite runs against starts, serves and stops."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pgserver import PostgresServer, find_pg_bin

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.skipif(
        find_pg_bin() is None,
        reason="PostgreSQL binaries (initdb, pg_ctl, postgres) not found; install postgresql-15",
    ),
]


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_server_starts_creates_database_and_stops(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path)
    with server:
        url = server.create_database("lianfu_smoke")
        assert url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/lianfu_smoke"

        with psycopg.connect(_libpq(url)) as conn:
            version = conn.execute("select version()").fetchone()[0]
            assert version.startswith("PostgreSQL 15."), version
            assert conn.execute("show server_version_num").fetchone()[0].startswith("15")
            assert conn.execute("select current_user").fetchone()[0] == "postgres"
            assert conn.execute("show server_encoding").fetchone()[0] == "UTF8"
            assert conn.execute("show listen_addresses").fetchone()[0] == "127.0.0.1"
            assert conn.execute("show fsync").fetchone()[0] == "off"
            assert int(conn.execute("show max_connections").fetchone()[0]) >= 100
            # Chinese text round-trips.
            assert conn.execute("select %s::text", ["警企联服"]).fetchone()[0] == "警企联服"

            conn.execute("create table marker (id int)")
            conn.commit()

        # Creating it again starts from an empty database.
        assert server.create_database("lianfu_smoke") == url
        with psycopg.connect(_libpq(url)) as conn:
            assert conn.execute("select to_regclass('marker')").fetchone()[0] is None

        workdir = server.workdir
        assert workdir is not None and workdir.is_dir()

    assert not server.running
    assert not workdir.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn(), connect_timeout=2)


def test_a_halted_server_resumes_on_its_port_with_what_it_had_committed(tmp_path: Path) -> None:
    """As the chaos campaign stops PostgreSQL under the hub: a crash-like stop, a start again, nothing committed lost
    (with synchronous_commit on, a setting the caller gives over the suite's)."""
    server = PostgresServer(tmp_path, settings={"synchronous_commit": "on"})
    with server:
        url = _libpq(server.create_database("lianfu_halt"))
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("show synchronous_commit").fetchone()[0] == "on"
            conn.execute("create table kept (note text)")
            conn.execute("insert into kept values ('提交后崩溃')")
        port = server.port
        server.halt()
        assert not server.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=3)
        server.resume()
        assert server.running and server.port == port
        with psycopg.connect(url) as conn:
            assert conn.execute("select note from kept").fetchall() == [("提交后崩溃",)]
