"""Spokes as relying parties, with real processes: enrollment, login through the hub, offline login, hub tokens at a spoke."""
from __future__ import annotations

import json
import re
import secrets
import stat
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from joserfc.jws import extract_compact
from sqlalchemy import select

from common.db import Database
from common.models import AuditEntry, Enterprise, OAuthClient, User
from tests.live_federation import Federation
from tests.live_hub import LIANFU, ROOT
from tests.oidc_support import OAuth2Client


PASSWORD = "lianfu-demo"
RP_REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    with Federation(enterprises=10) as federation:
        federation.enroll("sc-shanghai")
        federation.start_spoke("sc-shanghai")
        yield federation


def hub_db(fed: Federation) -> Database:
    return Database.connect(f"sqlite:///{fed.hub_dir / 'lianfu.db'}")


def spoke_db(fed: Federation, node: str = "sc-shanghai") -> Database:
    return Database.connect(f"sqlite:///{fed.spoke_dir(node) / 'lianfu.db'}")


def audit_actions(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    try:
        with db.reads() as session:
            return [(e.action, e.actor, e.detail) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    finally:
        db.dispose()


def follow(browser: httpx.Client, response: httpx.Response, limit: int = 10) -> httpx.Response:
    """Follow redirects across hub and spoke the way a browser does (one cookie jar for the one host)."""
    for _ in range(limit):
        if response.status_code not in (301, 302, 303, 307):
            return response
        response = browser.get(urljoin(str(response.url), response.headers["location"]))
    raise AssertionError("too many redirects")


def fill_login_form(browser: httpx.Client, page: httpx.Response, username: str, password: str = PASSWORD) -> httpx.Response:
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    target = re.search(r'name="next" value="([^"]*)"', page.text)
    assert csrf and target, page.text[:500]
    form = {"csrf_token": csrf.group(1), "username": username, "password": password,
            "next": target.group(1).replace("&amp;", "&")}
    return browser.post(urljoin(str(page.url), "/login"), data=form)


def login_through_hub(browser: httpx.Client, spoke_url: str, username: str) -> httpx.Response:
    page = follow(browser, browser.get(f"{spoke_url}/login"))
    assert page.url.port != httpx.URL(spoke_url).port, "the spoke should send the person to the hub's login"
    return follow(browser, fill_login_form(browser, page, username))


def user_line(page: httpx.Response) -> str:
    found = re.search(r'<div class="user">\s*<span>(.*?)</span>', page.text, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else ""


# --- enrollment -----------------------------------------------------------------------------------------------------

def test_enrollment_registers_the_spoke_and_keeps_its_private_key_at_home(fed: Federation) -> None:
    data_dir = fed.spoke_dir("sc-shanghai")
    key_file = data_dir / "keys" / "client.jwk.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    private = json.loads(key_file.read_text())
    config = json.loads((data_dir / "spoke.json").read_text())
    assert config["node_id"] == "sc-shanghai" and config["issuer"] == fed.hub_url
    db = hub_db(fed)
    try:
        with db.reads() as session:
            client = session.get(OAuthClient, config["client_id"])
            assert client is not None and client.active and client.node_id == "sc-shanghai" and client.first_party
            assert client.token_endpoint_auth_method == "private_key_jwt" and client.secret_hash is None
            (public,) = client.jwks["keys"]
            assert public["kid"] == private["kid"] and "d" not in public and "d" in private
            assert client.redirect_uris == [f"{fed.spoke_urls['sc-shanghai']}/auth/callback"]
    finally:
        db.dispose()
    assert any(action == "node.enrolled" for action, _, _ in audit_actions(hub_db(fed)))


def test_an_enrollment_code_works_once_and_a_bad_one_leaves_nothing_behind(fed: Federation) -> None:
    code = fed.enrollment_code("sc-suzhou")
    first = fed.enroll("sc-suzhou", code)
    summary = json.loads(first.stdout)
    assert summary["node"] == "sc-suzhou" and "warning" not in summary
    # The first full sync ran with the enrollment: the node's own rows are there, and no other node's.
    assert summary["first_sync"]["ok"] and summary["first_sync"]["pulled"] > 0
    db = spoke_db(fed, "sc-suzhou")
    try:
        with db.reads() as session:
            nodes = set(session.scalars(select(Enterprise.node_id).distinct()))
    finally:
        db.dispose()
    assert "sc-suzhou" in nodes and not nodes & {"sc-shanghai", "ws-demo-1", "hub"}
    # The same code again, from another fresh machine: refused, and that machine keeps no half-made identity.
    fed.root.joinpath("again").mkdir()
    env = {**fed.spoke_environment("sc-suzhou"), "LIANFU_DATA_DIR": str(fed.root / "again")}
    again = subprocess.run([*LIANFU, "spoke", "enroll", "--hub", fed.hub_url, "--code", code], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "已被使用" in again.stderr
    assert not (fed.root / "again" / "spoke.json").exists()
    assert not (fed.root / "again" / "keys" / "client.jwk.json").exists()
    wrong = subprocess.run([*LIANFU, "spoke", "enroll", "--hub", fed.hub_url, "--code", "AAAAAA-BBBBBB-CCCCCC-DDDDDD"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert wrong.returncode != 0 and "注册码无效" in wrong.stderr
    refused = [detail["reason"] for action, _, detail in audit_actions(hub_db(fed)) if action == "security.enrollment_refused"]
    assert "code already used" in refused and "unknown code" in refused


def test_the_directory_brings_only_the_nodes_own_accounts(fed: Federation) -> None:
    db = spoke_db(fed)
    try:
        with db.reads() as session:
            users = session.scalars(select(User)).all()
            hashed = {u.username for u in users if u.password_hash.startswith("$argon2")}
    finally:
        db.dispose()
    assert hashed == {"subcenter_sh"}  # never workstation_1 (below it) nor anyone of the hub or another node


# --- online login ---------------------------------------------------------------------------------------------------

def test_a_person_logs_in_at_the_spoke_through_the_hub(fed: Federation) -> None:
    spoke_url = fed.spoke_urls["sc-shanghai"]
    with httpx.Client(timeout=20) as browser:
        page = login_through_hub(browser, spoke_url, "subcenter_sh")
        assert page.status_code == 200 and str(page.url).startswith(spoke_url)
        assert "subcenter_sh" in user_line(page) and "离线" not in user_line(page)
        # Hub and spoke share the host 127.0.0.1: each keeps its own cookies, so both sessions live side by side.
        names = {cookie.name for cookie in browser.cookies.jar}
        assert {"lianfu_hub_session", "lianfu_sc_shanghai_session"} <= names
        assert browser.get(f"{fed.hub_url}/enterprises").status_code == 200
        # "My account" leads to the hub, where the person's password and authenticator app are kept.
        assert 'href="/account"' in page.text
        there = browser.get(f"{spoke_url}/account")
        assert there.status_code == 303 and there.headers["location"] == f"{fed.hub_url.rstrip('/')}/account"
        assert follow(browser, there).status_code == 200 and str(follow(browser, there).url).startswith(fed.hub_url)
    logins = [(actor, detail) for action, actor, detail in audit_actions(spoke_db(fed)) if action == "login.ok"]
    assert ("subcenter_sh", {"via": "hub"}) in logins
    assert any(action == "token.issued" and detail.get("client_id", "").startswith("sc-shanghai.")
               for action, _, detail in audit_actions(hub_db(fed)))


def test_a_person_below_the_spoke_may_log_in_there(fed: Federation) -> None:
    with httpx.Client(timeout=20) as browser:
        page = login_through_hub(browser, fed.spoke_urls["sc-shanghai"], "workstation_1")
        assert page.status_code == 200 and "workstation_1" in user_line(page)


def test_a_person_of_another_node_is_refused_and_may_switch_account(fed: Federation) -> None:
    spoke_url = fed.spoke_urls["sc-shanghai"]
    with httpx.Client(timeout=20, headers={"Accept": "text/html"}) as browser:
        page = login_through_hub(browser, spoke_url, "subcenter_sz")
        assert page.status_code == 403 and str(page.url).startswith(spoke_url)
        assert "不属于本节点" in page.text and "/login?switch=1" in page.text
        assert not any(c.name == "lianfu_sc_shanghai_session" for c in browser.cookies.jar)
        # Logged in at the hub as someone else: switching asks the hub for a password again.
        switch = follow(browser, browser.get(f"{spoke_url}/login?switch=1"))
        assert switch.url.port == fed.hub_port and 'name="password"' in switch.text
        page = follow(browser, fill_login_form(browser, switch, "subcenter_sh"))
        assert page.status_code == 200 and "subcenter_sh" in user_line(page)
    refused = [detail for action, _, detail in audit_actions(hub_db(fed)) if action == "oauth.refused"]
    assert any(d.get("error") == "access_denied" for d in refused)


def test_a_forged_callback_is_refused(fed: Federation) -> None:
    spoke_url = fed.spoke_urls["sc-shanghai"]
    with httpx.Client(timeout=20) as browser:
        answer = browser.get(f"{spoke_url}/auth/callback", params={"code": "stolen", "state": "guessed"})
        assert answer.status_code == 400
        assert not any(c.name == "lianfu_sc_shanghai_session" for c in browser.cookies.jar)


# --- hub tokens at the spoke's API ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rp(fed: Federation) -> dict[str, str]:
    made = fed.run_hub_command("client", "create", "台账助手", "--grant", "authorization_code", "--redirect-uri",
                               RP_REDIRECT, "--public", "--scope", "openid profile enterprises:read")
    return json.loads(made.stdout)


def person_token(fed: Federation, rp: dict[str, str], username: str) -> str:
    """Authlib's own client, through the hub's real login form and consent screen."""
    with OAuth2Client(rp["client_id"], token_endpoint_auth_method="none", code_challenge_method="S256",
                      redirect_uri=RP_REDIRECT, scope="openid profile enterprises:read", timeout=20) as oauth, \
            httpx.Client(timeout=20) as browser:
        verifier = secrets.token_urlsafe(48)
        uri, _ = oauth.create_authorization_url(f"{fed.hub_url}/oauth/authorize", code_verifier=verifier,
                                                nonce=secrets.token_urlsafe(8))
        page = follow(browser, browser.get(uri))
        page = fill_login_form(browser, page, username)
        page = follow(browser, page)
        if page.status_code == 200 and 'name="decision"' in page.text:  # consent for a third-party client
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
            hidden = {k: v.replace("&amp;", "&") for k, v in hidden.items()}
            page = browser.post(f"{fed.hub_url}/oauth/authorize", data={**hidden, "csrf_token": csrf, "decision": "allow"})
        assert page.status_code == 302 and page.headers["location"].startswith(RP_REDIRECT), page.text[:400]
        token = oauth.fetch_token(f"{fed.hub_url}/oauth/token", authorization_response=page.headers["location"],
                                  code_verifier=verifier)
    return token["access_token"]


def test_the_spokes_api_takes_hub_tokens_and_learns_of_revocation(fed: Federation, rp: dict[str, str]) -> None:
    spoke_url = fed.spoke_urls["sc-shanghai"]
    token = person_token(fed, rp, "subcenter_sh")
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{spoke_url}/api/v1/enterprises", headers=auth).status_code == 200
    # The token lacks cases:read: refused for the scope, not for the person.
    assert httpx.get(f"{spoke_url}/api/v1/cases", headers=auth).status_code == 403
    revoked = httpx.post(f"{fed.hub_url}/oauth/revoke", data={"token": token, "client_id": rp["client_id"]})
    assert revoked.status_code == 200
    answer = httpx.get(f"{spoke_url}/api/v1/enterprises", headers=auth)
    assert answer.status_code == 401 and 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert answer.headers["content-type"].startswith("application/problem+json")
    reasons = [detail.get("reason") for action, _, detail in audit_actions(spoke_db(fed)) if action == "token.refused"]
    assert "token revoked" in reasons


def test_the_spoke_refuses_tokens_of_people_outside_it_and_forgeries(fed: Federation, rp: dict[str, str]) -> None:
    spoke_url = fed.spoke_urls["sc-shanghai"]
    outsider = person_token(fed, rp, "subcenter_sz")
    assert httpx.get(f"{spoke_url}/api/v1/enterprises", headers={"Authorization": f"Bearer {outsider}"}).status_code == 403
    good = person_token(fed, rp, "subcenter_sh")
    header, claims = extract_compact(good.encode()).headers(), json.loads(extract_compact(good.encode()).payload)
    other_key = RSAKey.generate_key(2048, parameters={"kid": header["kid"]})
    forged = jwt.encode({**header}, {**claims, "node": "sc-shanghai"}, other_key, algorithms=["RS256"])
    none_alg = ".".join([_b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode()), good.split(".")[1], ""])
    for bad in (forged, none_alg, "not-a-token"):
        answer = httpx.get(f"{spoke_url}/api/v1/enterprises", headers={"Authorization": f"Bearer {bad}"})
        assert answer.status_code == 401, bad[:40]


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- the hub away ---------------------------------------------------------------------------------------------------

def test_offline_login_for_the_nodes_own_people_while_the_hub_is_down(fed: Federation, rp: dict[str, str]) -> None:
    spoke_url = fed.spoke_urls["sc-shanghai"]
    token = person_token(fed, rp, "subcenter_sh")
    fed.stop_hub()
    try:
        with httpx.Client(timeout=20, headers={"Accept": "text/html"}) as browser:
            page = follow(browser, browser.get(f"{spoke_url}/login"))
            assert str(page.url).startswith(spoke_url) and "无法连接总部" in page.text and 'name="password"' in page.text
            # Below the node, or another node: their hashes were never here, so they cannot log in offline.
            for outsider in ("workstation_1", "subcenter_sz", "office"):
                refused = fill_login_form(browser, page, outsider)
                assert refused.status_code == 400 and "用户名或密码错误" in refused.text
            assert fill_login_form(browser, page, "subcenter_sh", "wrong-password").status_code == 400
            home = follow(browser, fill_login_form(browser, page, "subcenter_sh"))
            assert home.status_code == 200 and "subcenter_sh" in user_line(home) and "离线登录" in user_line(home)
        # A hub token still works on its signature while the hub cannot be asked (it lives minutes).
        assert httpx.get(f"{spoke_url}/api/v1/enterprises", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        fed.start_hub()
    actions = audit_actions(spoke_db(fed))
    assert ("login.offline", "subcenter_sh") in [(a, actor) for a, actor, _ in actions]
    failures = [actor for action, actor, detail in actions if action == "login.fail" and detail.get("offline")]
    assert {"workstation_1", "subcenter_sz", "office", "subcenter_sh"} <= set(failures)


def test_a_hub_that_does_not_answer_at_all_gets_the_offline_login_offered_without_the_links_long_wait(
        fed: Federation) -> None:
    """On a poor network the hub may take the connection and never answer: the login page asks it for a moment only
    (spoke/login.py LOGIN_PROBE_SECONDS), not for the sync link's whole timeout, then offers the offline login."""
    import socket
    import time

    from spoke.login import LOGIN_PROBE_SECONDS

    spoke_url = fed.spoke_urls["sc-shanghai"]
    fed.stop_hub()
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        silent.bind(("127.0.0.1", fed.hub_port))
        silent.listen(16)  # connections are taken by the kernel and never answered
        with httpx.Client(timeout=30, headers={"Accept": "text/html"}) as browser:
            started = time.monotonic()
            page = follow(browser, browser.get(f"{spoke_url}/login"))
            waited = time.monotonic() - started
        assert str(page.url).startswith(spoke_url) and 'name="password"' in page.text and "无法连接总部" in page.text
        # At most two probes of LOGIN_PROBE_SECONDS (the address, the hub's metadata); the link's own timeout is 10 s.
        assert waited < 2 * LOGIN_PROBE_SECONDS + 1.5, waited
    finally:
        silent.close()
        fed.start_hub()
