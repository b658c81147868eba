"""A suspended or retired node's people stop at once: login, open sessions, tokens; at the hub and at the spokes.

Nodes are suspended the way the office does it, with `PATCH /api/v1/nodes/{id}`. A suspended sub-center stops the
workstations below it too.
"""
from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from common.db import Database
from common.models import AuditEntry, WebSession
from tests.live_federation import Federation
from tests.oidc_support import token_post
from tests.identity.test_oidc_tokens import bearer, person_tokens
from tests.identity.test_spoke_identity import (
    audit_actions as spoke_audit, fill_login_form, follow, login_through_hub, person_token, spoke_db, user_line,
)

# Logins of people of suspended nodes are the subject: every client logs in through the real form.
REAL_LOGIN = True
APP_PER_CLIENT = True

PASSWORD = "lianfu-demo"
SUSPENDED = "您所在的节点已暂停使用，请联系中心办公室。"
RETIRED = "您所在的节点已撤销，请联系中心办公室。"
WRONG_PASSWORD = "用户名或密码错误"
ALERT_RE = re.compile(r'role="alert">([^<]*)<')
HUB_SESSION = "lianfu_hub_session"


@pytest.fixture
def db_kind() -> str:
    """The hub's refusals read one node table, alike on both databases: SQLite alone."""
    return "sqlite"


def alert(response: Any) -> str:
    found = ALERT_RE.search(response.text)
    return html.unescape(found.group(1)) if found else ""


def set_status(office: Any, node: str, status: str) -> None:
    answer = office.patch(f"/api/v1/nodes/{node}", json={"status": status})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == status


def post_login(client: Any, username: str, password: str = PASSWORD) -> Any:
    client.fetch_csrf()
    return client.post("/login", data={"username": username, "password": password, "csrf_token": client.csrf,
                                       "next": "/"}, follow_redirects=False)


def audit_details(db: Database, action: str) -> list[dict[str, Any]]:
    with db.reads() as session:
        return [e.detail for e in session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                                  .order_by(AuditEntry.seq))]


# --- at the hub -------------------------------------------------------------------------------------------------

def test_the_hub_refuses_them_after_the_password_and_says_why(clients: Any, db: Database) -> None:
    office = clients("office")
    set_status(office, "sc-shanghai", "suspended")
    browser = clients()
    # A wrong password learns nothing of the node: the usual answer.
    wrong = post_login(browser, "subcenter_sh", "wrong-password")
    assert wrong.status_code == 400 and alert(wrong) == WRONG_PASSWORD
    refused = post_login(browser, "subcenter_sh")
    assert refused.status_code == 403 and alert(refused) == SUSPENDED
    assert HUB_SESSION not in refused.headers.get("set-cookie", "")
    # A workstation below the suspended sub-center stops with it.
    below = post_login(browser, "workstation_1")
    assert below.status_code == 403 and alert(below) == SUSPENDED
    # Another sub-center is untouched.
    assert post_login(clients(), "subcenter_sz").status_code == 303
    refusals = audit_details(db, "login.refused_node")
    assert [(d["node"], d["status"]) for d in refusals] == [("sc-shanghai", "suspended"), ("ws-demo-1", "suspended")]
    assert len(audit_details(db, "login.fail")) == 1  # the right password is no failure

    set_status(office, "ws-demo-1", "retired")
    set_status(office, "sc-shanghai", "active")
    assert post_login(browser, "subcenter_sh").status_code == 303
    closed = post_login(clients(), "workstation_1")
    assert closed.status_code == 403 and alert(closed) == RETIRED


def test_an_open_session_ends_at_its_next_request_and_stays_ended(clients: Any, db: Database,
                                                                  world: dict[str, Any]) -> None:
    sub, station = clients("subcenter_sh"), clients("workstation_1")
    assert sub.get("/api/v1/enterprises").status_code == 200
    assert station.get("/api/v1/enterprises").status_code == 200
    office = clients("office")
    set_status(office, "sc-shanghai", "suspended")
    assert sub.get("/api/v1/enterprises").status_code == 401
    assert sub.post("/api/v1/enterprises", json={"name": "x"}).status_code in (401, 403)
    assert station.get("/api/v1/enterprises").status_code == 401
    with db.reads() as session:
        left = session.scalar(select(func.count()).select_from(WebSession).where(
            WebSession.user_id.in_([world["users"]["subcenter_sh"], world["users"]["workstation_1"]])))
    assert left == 0
    assert office.get("/api/v1/enterprises").status_code == 200

    set_status(office, "sc-shanghai", "active")
    assert sub.get("/api/v1/enterprises").status_code == 401  # reinstating asks for a new login
    assert sub.login("subcenter_sh").status_code == 303
    assert sub.get("/api/v1/enterprises").status_code == 200


def test_access_and_refresh_tokens_stop_with_the_node(clients: Any, db: Database) -> None:
    token, info, _ = person_tokens(clients, db)  # subcenter_sh of sc-shanghai
    api = clients()
    assert api.get("/api/v1/enterprises", headers=bearer(token["access_token"])).status_code == 200
    office = clients("office")
    set_status(office, "sc-shanghai", "suspended")

    refused = api.get("/api/v1/enterprises", headers=bearer(token["access_token"]))
    assert refused.status_code == 401 and "node not active" in refused.headers["www-authenticate"]
    # What a spoke asks the hub about a person's token says the same.
    assert token_post(api, info, {"token": token["access_token"]}, "/oauth/introspect").json() == {"active": False}
    refresh = token_post(api, info, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert refresh.status_code == 400, refresh.text
    assert [d["via"] for d in audit_details(db, "login.refused_node")] == ["refresh_token"]
    assert "node not active" in [d.get("reason") for d in audit_details(db, "token.family_revoked")]

    # The grant ended for good: reinstating the node does not bring these tokens back.
    set_status(office, "sc-shanghai", "active")
    again = token_post(api, info, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert again.status_code == 400
    assert api.get("/api/v1/enterprises", headers=bearer(token["access_token"])).status_code == 401


# --- at the spokes ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    # Rounds every few seconds: a spoke learns that the hub refuses its node from a failed round.
    with Federation(enterprises=5, spoke_env={"LIANFU_SYNC_INTERVAL": "3"}) as federation:
        for node in ("sc-shanghai", "ws-demo-1"):
            federation.enroll(node)
            federation.start_spoke(node)
        yield federation


@pytest.fixture(scope="module")
def office_at_hub(fed: Federation) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fed.hub_url, timeout=20) as office:
        page = office.get("/login")
        fill_login_form(office, page, "office")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', office.get("/").text)
        assert csrf is not None
        office.headers["X-CSRF-Token"] = csrf.group(1)
        yield office


@pytest.fixture(scope="module")
def rp(fed: Federation) -> dict[str, str]:
    made = fed.run_hub_command("client", "create", "台账助手", "--grant", "authorization_code", "--redirect-uri",
                               "http://127.0.0.1:9/callback", "--public", "--scope", "openid profile enterprises:read")
    return json.loads(made.stdout)


def hub_back(fed: Federation, node: str) -> None:
    """Wait until the spoke, which believes an unreachable hub down for a while, sends people to the hub again."""
    deadline = time.monotonic() + 40
    login = f"{fed.spoke_urls[node]}/login"
    while not httpx.get(login, timeout=20).headers.get("location", "").startswith(fed.hub_url):
        assert time.monotonic() < deadline, "the spoke did not notice that the hub is back"
        time.sleep(1)


def offline_login(fed: Federation, node: str, username: str) -> httpx.Response:
    """With the hub stopped: the spoke's own password form."""
    with httpx.Client(timeout=20, headers={"Accept": "text/html"}) as browser:
        page = follow(browser, browser.get(f"{fed.spoke_urls[node]}/login"))
        assert "无法连接总部" in page.text, page.text[:300]
        return fill_login_form(browser, page, username)


def test_a_suspended_spoke_refuses_its_people_online_and_offline(fed: Federation, office_at_hub: httpx.Client) -> None:
    spoke_url = fed.spoke_urls["sc-shanghai"]
    with httpx.Client(timeout=20) as earlier:
        assert login_through_hub(earlier, spoke_url, "subcenter_sh").status_code == 200
        assert earlier.get(f"{spoke_url}/enterprises").status_code == 200
        set_status(office_at_hub, "sc-shanghai", "suspended")
        try:
            # The hub refuses the login (the authorization never happens): its own page says why.
            with httpx.Client(timeout=20, headers={"Accept": "text/html"}) as browser:
                answer = login_through_hub(browser, spoke_url, "subcenter_sh")
                assert answer.status_code == 403 and str(answer.url).startswith(fed.hub_url)
                assert SUSPENDED in answer.text
                assert not any(c.name == "lianfu_sc_shanghai_session" for c in browser.cookies.jar)
            # The spoke's next round is refused for its node: it learns so, and the open session ends.
            deadline = time.monotonic() + 40
            while earlier.get(f"{spoke_url}/enterprises", follow_redirects=False).status_code == 200:
                assert time.monotonic() < deadline, "the spoke did not learn of its suspension"
                time.sleep(1)
            fed.stop_hub()
            try:
                refused = offline_login(fed, "sc-shanghai", "subcenter_sh")
                assert refused.status_code == 403 and SUSPENDED in refused.text
            finally:
                fed.start_hub()
        finally:
            set_status(office_at_hub, "sc-shanghai", "active")
    actions = spoke_audit(spoke_db(fed))
    assert "node.refused_by_hub" in [a for a, _, _ in actions]
    assert ("login.refused_node", "subcenter_sh") in [(a, actor) for a, actor, _ in actions]
    # Reinstated: through the hub at once (the spoke takes the directory again when the hub vouches for someone).
    hub_back(fed, "sc-shanghai")
    with httpx.Client(timeout=20) as browser:
        home = login_through_hub(browser, spoke_url, "subcenter_sh")
        assert home.status_code == 200 and "subcenter_sh" in user_line(home)
        assert browser.get(f"{spoke_url}/enterprises").status_code == 200


def test_a_workstation_under_a_suspended_subcenter_knows_it_from_its_directory(
        fed: Federation, office_at_hub: httpx.Client, rp: dict[str, str]) -> None:
    spoke_url = fed.spoke_urls["ws-demo-1"]
    # The spoke's directory as the hub has it now (its scheduled round may have run while an earlier test here had
    # the sub-center suspended).
    assert fed.run_sync("ws-demo-1").returncode == 0
    token = person_token(fed, rp, "workstation_1")
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{spoke_url}/api/v1/enterprises", headers=auth).status_code == 200
    set_status(office_at_hub, "sc-shanghai", "suspended")
    try:
        # The workstation itself is active, so its spoke still syncs, and its directory brings the parent's status.
        assert fed.run_sync("ws-demo-1").returncode == 0
        assert httpx.get(f"{spoke_url}/api/v1/enterprises", headers=auth).status_code == 401
        fed.stop_hub()
        try:
            refused = offline_login(fed, "ws-demo-1", "workstation_1")
            assert refused.status_code == 403 and SUSPENDED in refused.text
            # With the hub away the spoke's own directory refuses the token.
            answer = httpx.get(f"{spoke_url}/api/v1/enterprises", headers=auth)
            assert answer.status_code == 401 and "node not active" in answer.headers["www-authenticate"]
        finally:
            fed.start_hub()
    finally:
        set_status(office_at_hub, "sc-shanghai", "active")
    assert fed.run_sync("ws-demo-1").returncode == 0
    fed.stop_hub()
    try:
        let_in = offline_login(fed, "ws-demo-1", "workstation_1")
        assert let_in.status_code == 303 and let_in.headers["location"] == "/"
    finally:
        fed.start_hub()

