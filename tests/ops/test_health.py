"""/healthz tells the truth about the database (503 while PostgreSQL is stopped, 200 once it is back), and /readyz
also whether the schema is the code's."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from litestar.testing import TestClient

from common.migrate import head_and_previous, upgrade
from common.settings import Settings
from pgserver import PostgresServer, find_pg_bin
from tests.conftest import fresh_url


def _app(url: str, data_dir: Path) -> Any:
    from hub.app import create_app

    return create_app(Settings(role="hub", node_id="hub", data_dir=data_dir, db_url=url,
                               secret_key="test-secret-key-0123456789abcdef", cookie_secure=True))


def _pause(server: PostgresServer) -> None:
    """Stop the server and keep its data (PostgresServer.stop throws the cluster away)."""
    assert server.data_dir is not None
    server._run([server._tool("pg_ctl"), "stop", "-D", str(server.data_dir), "-m", "fast", "-w", "-t", "60"],
                timeout=90)


def _resume(server: PostgresServer) -> None:
    server._pg_ctl_start()
    server._wait_until_ready()


@pytest.fixture
def private_pg(tmp_path: Path) -> Iterator[PostgresServer]:
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries are not installed")
    server = PostgresServer(tmp_path / "pg")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.postgresql
def test_healthz_is_503_while_postgresql_is_stopped_and_200_once_it_is_back(private_pg: PostgresServer,
                                                                            tmp_path: Path) -> None:
    url = private_pg.create_database("lianfu_health")
    upgrade(url)
    with TestClient(_app(url, tmp_path / "hub")) as client:
        ok = client.get("/healthz")
        assert ok.status_code == 200, ok.text
        assert ok.json()["status"] == "ok" and ok.json()["db"] == "postgresql" and ok.json()["database"] == "postgresql"

        _pause(private_pg)
        down = client.get("/healthz")
        assert down.status_code == 503, down.text
        assert down.json()["db"] == "unreachable" and down.json()["status"] != "ok"
        assert client.get("/readyz").status_code == 503
        assert client.get("/readyz").json()["db"] == "unreachable"
        # A browser that is signed in asks too (an operator's tab): its session is not looked up, the answer is the
        # same 503 rather than an error page.
        from common.web.auth import cookie_names

        session = cookie_names(client.app.state.settings)["session"]
        client.cookies.set(session, "s" * 43)
        for path in ("/healthz", "/readyz"):
            signed_in = client.get(path)
            assert signed_in.status_code == 503 and signed_in.json()["db"] == "unreachable", (path, signed_in.text)

        _resume(private_pg)
        back = client.get("/healthz")
        assert back.status_code == 200, back.text
        assert back.json()["db"] == "postgresql"
        assert client.get("/readyz").status_code == 200


def test_readyz_names_the_schema_a_database_is_at_until_it_is_migrated(db_kind: str, tmp_path_factory: Any,
                                                                       tmp_path: Path) -> None:
    head, previous = head_and_previous()
    assert previous is not None
    url = fresh_url(db_kind, tmp_path_factory, "readyz")
    upgrade(url, previous)  # a database one release behind: the app starts, its schema is not this release's
    with TestClient(_app(url, tmp_path / "hub")) as client:
        behind = client.get("/readyz")
        assert behind.status_code == 503, behind.text
        assert behind.json() == {"status": "not ready", "db": db_kind, "schema": previous, "expected": head}
        assert client.get("/healthz").status_code == 200  # alive, only not ready
        upgrade(url)
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "db": db_kind, "schema": head, "expected": head}
