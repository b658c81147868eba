"""The shipped nginx site in front of the hub as its systemd unit runs it: TLS with HTTP/2, the redirect to https,
each security header once, the real client's address in the audit trail, body limits as the app's, a login."""
from __future__ import annotations

import os
import re
import secrets
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from conftest import PG_SKIP_ENV, fresh_url
from deploy_support import (CURL, DEPLOY, NGINX, Site, UnitHub, hub_as_unit, mdwe_supported, nginx_test, running_nginx,
                            seccomp_supported, site_for, unit_syscalls)

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (tests/ensure-system-deps.sh installs it)")

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
CLIENT = "127.0.0.2"  # the test's own source address: loopback, but not the one nginx reaches the hub from
APP_HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy",
               "strict-transport-security")
MB = 1024 * 1024


@pytest.fixture(scope="module")
def mdwe() -> bool:
    return mdwe_supported()


@pytest.fixture(scope="module")
def syscalls() -> set[str] | None:
    """What the hub unit's SystemCallFilter= allows, when this machine can both read it and enforce it."""
    return unit_syscalls(DEPLOY / "lianfu-hub.service") if seccomp_supported() else None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, mdwe: bool,
           syscalls: set[str] | None) -> Iterator[tuple[UnitHub, Site]]:
    """The hub from its unit's command line behind nginx from the shipped site, as in production: Secure cookies,
    its public https address, nginx as its one trusted proxy."""
    root = tmp_path_factory.mktemp("deploy")
    nginx_dir = root / "nginx"
    nginx_dir.mkdir()
    https_port = _free()
    environment = {"LIANFU_BASE_URL": f"https://127.0.0.1:{https_port}", "LIANFU_COOKIE_SECURE": "1",
                   "LIANFU_SECRET_KEY": secrets.token_urlsafe(48), "LIANFU_TRUSTED_PROXIES": "127.0.0.1",
                   "LIANFU_HUB_SCHEDULER": "0"}
    # On PostgreSQL, as in production, when the suite has its server; else the SQLite file in the data dir.
    if not os.environ.get(PG_SKIP_ENV):
        environment["LIANFU_DB"] = fresh_url("postgresql", tmp_path_factory, "deploy")
    with hub_as_unit(root / "state", environment, mdwe=mdwe, syscalls=syscalls) as hub:
        # Both hosts of the site's upstream are this hub: several hosts of one hub answer alike.
        site = site_for(nginx_dir, (hub.port, hub.port), https_port=https_port)
        with running_nginx(site):
            yield hub, site


def _free() -> int:
    from live_hub import free_port

    return free_port()


def _client(site: Site, **kwargs: Any) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(site.cert))
    transport = httpx.HTTPTransport(verify=context, local_address=CLIENT)
    return httpx.Client(transport=transport, base_url=f"https://127.0.0.1:{site.https_port}", timeout=30, **kwargs)


def _audit(hub: UnitHub, action: str) -> list[tuple[str, str]]:
    engine = create_engine(hub.db_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT actor, address FROM audit_entry WHERE action = :action ORDER BY at"),
                                      {"action": action})
            return [(actor, address) for actor, address in rows]
    finally:
        engine.dispose()


def test_the_site_passes_nginx_t(tmp_path: Path) -> None:
    site = site_for(tmp_path, (8600, 8601))
    checked = nginx_test(site)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_the_spoke_site_passes_nginx_t_beside_the_hubs(tmp_path: Path) -> None:
    """A hub and a spoke on one host: both sites in one nginx, no name of one clashing with the other's."""
    site = site_for(tmp_path, (8600, 8600), spoke_port=8601)
    checked = nginx_test(site)
    assert checked.returncode == 0, checked.stderr


def test_the_hub_unit_runs_with_memory_deny_write_execute(served: tuple[UnitHub, Site], mdwe: bool) -> None:
    if not mdwe:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+): MemoryDenyWriteExecute= cannot be tried here")
    hub, site = served
    assert hub.under_mdwe
    # Pages, a login (argon2), TLS through nginx: everything in this module ran in processes refused W+X memory.
    with _client(site) as client:
        health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["db"] == health["database"] == ("sqlite" if os.environ.get(PG_SKIP_ENV) else "postgresql")


def test_the_hub_unit_runs_within_its_system_call_filter(served: tuple[UnitHub, Site],
                                                        syscalls: set[str] | None) -> None:
    if syscalls is None:
        pytest.skip("no systemd-analyze or no seccomp here: SystemCallFilter= cannot be tried")
    hub, site = served
    assert hub.syscalls_filtered
    # The filter is real: what it leaves out (here setuid, of @privileged) is refused inside it.
    assert "setuid" not in syscalls and "read" in syscalls
    from deploy_support import HARDENED_EXEC

    allowed = hub.data_dir.parent / "syscalls.txt"
    refused = subprocess.run([sys.executable, str(HARDENED_EXEC), "--syscalls", str(allowed), sys.executable, "-c",
                              "import os\ntry:\n    os.setuid(os.getuid())\nexcept PermissionError:\n    print('refused')"],
                             capture_output=True, text=True, timeout=60)
    assert refused.stdout.strip() == "refused", refused.stderr
    with _client(site) as client:
        assert client.get("/healthz").json()["status"] == "ok"


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_https_answers_with_http2(served: tuple[UnitHub, Site]) -> None:
    _hub, site = served
    answer = subprocess.run([CURL, "--http2", "-sS", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                             "--cacert", str(site.cert), f"https://127.0.0.1:{site.https_port}/healthz"],
                            capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == "2 200"


def test_http_is_redirected_to_https(served: tuple[UnitHub, Site]) -> None:
    _hub, site = served
    answer = httpx.get(f"http://127.0.0.1:{site.http_port}/enterprises?q=1", follow_redirects=False, timeout=30)
    assert answer.status_code == 301
    assert answer.headers["location"] == "https://127.0.0.1/enterprises?q=1"


def test_each_security_header_comes_once(served: tuple[UnitHub, Site]) -> None:
    _hub, site = served
    with _client(site) as client:
        page = client.get("/login")
        assert page.status_code == 200
        for name in APP_HEADERS:
            assert len(page.headers.get_list(name)) == 1, (name, page.headers.get_list(name))
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        # A page the app left without Cache-Control is not kept by anyone; one that set its own keeps it alone.
        assert page.headers.get_list("cache-control") == ["no-store"]
        health = client.get("/healthz")
        assert health.headers.get_list("cache-control") == ["no-store"]
        stylesheet = re.search(r'href="(/static/[^"]+\.css)', page.text)
        assert stylesheet is not None
        static = client.get(stylesheet.group(1))
        assert static.status_code == 200
        assert static.headers.get_list("cache-control") == ["public, max-age=3600"]
        discovery = client.get("/.well-known/openid-configuration")
        assert discovery.headers.get_list("cache-control") == ["public, max-age=300"]


def test_a_login_through_nginx_is_recorded_with_the_clients_address(served: tuple[UnitHub, Site]) -> None:
    hub, site = served
    with _client(site) as client:
        token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        # A forged hop in front of nginx's counts for nothing: the client is who connected to nginx.
        refused = client.post("/login", data={"username": "office", "password": "wrong-password-1", "csrf_token": token},
                              headers={"X-Forwarded-For": "203.0.113.9"})
        assert refused.status_code == 400
        signed_in = client.post("/login", data={"username": "office", "password": "lianfu-demo", "csrf_token": token})
        assert signed_in.status_code in (302, 303), signed_in.text[:500]
        roster = client.get("/enterprises")
        assert roster.status_code == 200
        assert 'action="/logout"' in roster.text or "/logout" in roster.text
    assert ("office", CLIENT) in _audit(hub, "login.fail")
    assert ("office", CLIENT) in _audit(hub, "login.ok")
    addresses = {address for _actor, address in _audit(hub, "login.fail") + _audit(hub, "login.ok")}
    assert "127.0.0.1" not in addresses and "203.0.113.9" not in addresses


def test_a_body_over_the_sync_limit_is_refused_by_nginx(served: tuple[UnitHub, Site]) -> None:
    _hub, site = served
    with _client(site) as client:
        over = client.post("/api/v1/sync/push", content=b"x" * (8 * MB + 1))
        assert over.status_code == 413
        assert "请求内容过大" in over.text  # nginx's own page, not the app's problem+json
        assert over.headers.get_list("x-content-type-options") == ["nosniff"]
        # Within the limit the request reaches the hub, which asks who is sending it.
        within = client.post("/api/v1/sync/push", content=b"x" * (7 * MB))
        assert within.status_code == 401
        assert within.headers["content-type"].startswith("application/problem+json")


def test_a_form_over_the_upload_limit_is_refused_before_its_body(served: tuple[UnitHub, Site]) -> None:
    """nginx answers on the announced length alone, so nobody's 120 MB reaches a hub."""
    _hub, site = served
    context = ssl.create_default_context(cafile=str(site.cert))
    with socket.create_connection(("127.0.0.1", site.https_port), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(f"POST /visits HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                        f"Content-Length: {120 * MB}\r\n\r\n".encode())
            status_line = tls.recv(4096).split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"


def test_metrics_are_not_published_through_the_site(served: tuple[UnitHub, Site]) -> None:
    _hub, site = served
    with _client(site) as client:
        assert client.get("/metrics").status_code == 404


def test_with_no_hub_answering_nginx_says_so_with_the_fixed_headers(tmp_path: Path) -> None:
    nobody = _free()  # nothing listens there
    site = site_for(tmp_path, (nobody, nobody))
    with running_nginx(site):
        with _client(site) as client:
            answer = client.get("/login")
    assert answer.status_code == 502
    assert "服务暂时不可用" in answer.text
    for name in ("x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy"):
        assert len(answer.headers.get_list(name)) == 1, name
    assert answer.headers["cache-control"] == "no-store"


DEBIAN_NGINX = Path("/etc/nginx/nginx.conf")


@pytest.mark.skipif(not DEBIAN_NGINX.exists(), reason="no distribution nginx.conf at /etc/nginx/nginx.conf")
def test_the_site_fits_the_distributions_nginx_conf(tmp_path: Path) -> None:
    """As the guide installs it: included into the stock http block (sites-enabled), next to its own settings."""
    site_for(tmp_path, (8600, 8601))  # writes site.conf, placeholders filled in
    stock = DEBIAN_NGINX.read_text(encoding="utf-8")
    assert "include /etc/nginx/sites-enabled/*;" in stock
    conf = (stock.replace("include /etc/nginx/sites-enabled/*;", f"include {tmp_path / 'site.conf'};")
            .replace("pid /run/nginx.pid;", f"pid {tmp_path / 'stock.pid'};"))
    conf = re.sub(r"^(\s*)(error_log|access_log) [^;]+;", lambda m: f"{m.group(1)}{m.group(2)} {tmp_path / 'stock.log'};",
                  conf, flags=re.M)
    (tmp_path / "stock.conf").write_text(conf, encoding="utf-8")
    assert NGINX is not None
    checked = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "startup.log"),
                              "-c", str(tmp_path / "stock.conf")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
