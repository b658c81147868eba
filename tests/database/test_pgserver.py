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
