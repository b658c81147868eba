"""X-Forwarded-For counts only from the proxies the operator trusts (LIANFU_TRUSTED_PROXIES): behind a proxy the
login throttle counts each real client, and without one a forged header dodges nothing. A production hub needs
its public address."""
from __future__ import annotations

import dataclasses
import re
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from common.db import Database
from common.models import AuditEntry
from common.settings import Settings, SettingsError, check_hub_settings
from common.web.proxies import client_address, parse_networks

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@pytest.fixture
def db_kind() -> str:
    """Whose address counts does not depend on the database: SQLite alone."""
    return "sqlite"


def test_the_client_is_the_first_untrusted_hop_from_the_nearest() -> None:
    proxies = parse_networks(("10.9.0.0/16", "192.0.2.7"))
    assert client_address("10.9.0.5", ["203.0.113.9"], proxies) == "203.0.113.9"
    # A client may write anything in front of the hops the proxies added: only the nearest untrusted one counts.
    assert client_address("10.9.0.5", ["1.2.3.4, 203.0.113.9, 192.0.2.7"], proxies) == "203.0.113.9"
    assert client_address("10.9.0.5", ["1.2.3.4", "203.0.113.9"], proxies) == "203.0.113.9"
    # A peer that is no trusted proxy is the client, whatever it says.
    assert client_address("198.51.100.1", ["203.0.113.9"], proxies) == "198.51.100.1"
    assert client_address("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"
    assert client_address("10.9.0.5", ["not-an-address"], proxies) == "10.9.0.5"
    assert client_address("10.9.0.5", ["[2001:db8::1]:443"], proxies) == "2001:db8::1"
    with pytest.raises(ValueError):
        parse_networks(("10.0.0.0/33",))


def _failed_logins(app: Any, peer: str, forwarded: list[str]) -> list[int]:
    """One bad login per forwarded address (each under another account name), through the ASGI app from `peer`."""

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver.local") as client:
            token = CSRF.search((await client.get("/login")).text).group(1)  # type: ignore[union-attr]
            statuses = []
            for n, address in enumerate(forwarded):
                answer = await client.post("/login", data={"username": f"nobody{n}", "password": "wrong-password-1",
                                                           "csrf_token": token},
                                           headers={"X-Forwarded-For": address})
                statuses.append(answer.status_code)
            return statuses

    try:
        return anyio.run(run)
    finally:
        app.state.db.dispose()  # no lifespan through the ASGI transport: its pool is closed here


def _addresses(db: Database) -> list[str]:
    with db.reads() as session:
        return list(session.scalars(select(AuditEntry.address).where(AuditEntry.action == "login.fail")))


def test_behind_a_trusted_proxy_each_client_is_counted_apart(settings: Settings, db: Database,
                                                            world: dict[str, Any]) -> None:
    from hub.app import create_app

    app = create_app(dataclasses.replace(settings, trusted_proxies=("10.9.0.0/16",)))
    clients = [f"203.0.113.{n}" for n in range(1, 26)]
    statuses = _failed_logins(app, "10.9.0.5", clients)
    # Twenty-five people at twenty-five addresses: nobody reaches the per-address limit, nobody is locked out.
    assert statuses == [400] * len(clients)
    assert set(_addresses(db)) == set(clients)


def test_without_a_trusted_proxy_a_forged_header_dodges_nothing(settings: Settings, db: Database,
                                                               world: dict[str, Any]) -> None:
    from hub.app import create_app

    app = create_app(settings)
    statuses = _failed_logins(app, "127.0.0.1", [f"203.0.113.{n}" for n in range(1, 26)])
    assert statuses[:20] == [400] * 20 and set(statuses[20:]) == {429}
    assert set(_addresses(db)) == {"127.0.0.1"}


def test_a_production_hub_needs_its_public_address(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="LIANFU_BASE_URL"):
        check_hub_settings(Settings(cookie_secure=True, base_url=""))
    check_hub_settings(Settings(cookie_secure=True, base_url="https://lianfu.example.gov.cn"))
    check_hub_settings(Settings(cookie_secure=False, base_url=""))
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        check_hub_settings(Settings(cookie_secure=False, trusted_proxies=("proxy.local",)))
    from hub.cli import hub

    monkeypatch.setenv("LIANFU_COOKIE_SECURE", "1")
    monkeypatch.delenv("LIANFU_BASE_URL", raising=False)
    result = CliRunner().invoke(hub, ["serve", "--data-dir", str(tmp_path / "hub")])
    assert result.exit_code != 0 and "LIANFU_BASE_URL" in result.output
    assert not (tmp_path / "hub").exists()  # refused before anything was made
