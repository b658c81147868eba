"""Logging out at a spoke ends the hub's session too (RP-initiated logout with the login's ID token as hint)."""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from common.db import Database
from tests.live_federation import Federation
from tests.oidc_support import PERSON_SCOPE, audit_actions, login_and_get_tokens, oauth_client, register
from tests.identity.test_spoke_identity import audit_actions as live_audit, follow, hub_db, login_through_hub, user_line

NODE = "sc-shanghai"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- the hub's end-session endpoint -------------------------------------------------------------------------------

def test_the_hub_asks_first_when_the_hint_names_someone_else(clients: Any, db: Database) -> None:
    info = register(db, first_party=True, post_logout_redirect_uris=["https://rp.example/bye"])
    leader_token, _ = login_and_get_tokens(clients("leader"), oauth_client(clients(), info, scope=PERSON_SCOPE))
    office = clients("office")
    office_token, _ = login_and_get_tokens(office, oauth_client(clients(), info, scope=PERSON_SCOPE))
    params = {"client_id": info["client_id"], "post_logout_redirect_uri": "https://rp.example/bye"}

    # Someone else's ID token is no proof that this person wants out: the confirmation page, the session kept.
    other = office.get("/oauth/logout", params={**params, "id_token_hint": leader_token["id_token"]},
                       follow_redirects=False)
    assert other.status_code == 200 and 'action="/oauth/logout"' in other.text
    assert office.get("/enterprises", follow_redirects=False).status_code == 200

    own = office.get("/oauth/logout", params={**params, "id_token_hint": office_token["id_token"]},
                     follow_redirects=False)
    assert own.status_code == 303 and own.headers["location"] == "https://rp.example/bye"
    assert office.get("/enterprises", follow_redirects=False).status_code == 401
    assert ("logout", {"rp_initiated": True}) in audit_actions(db)


# --- a real hub and spoke ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    with Federation(enterprises=5) as federation:
        federation.enroll(NODE)
        federation.start_spoke(NODE)
        yield federation


def csrf_of(page: httpx.Response) -> str:
    found = CSRF_RE.search(page.text)
    assert found, page.text[:300]
    return found.group(1)


def test_logging_out_at_the_spoke_ends_the_hub_session_and_the_next_visit_asks_for_the_password(
        fed: Federation) -> None:
    spoke_url = fed.spoke_urls[NODE]
    with httpx.Client(timeout=20, headers={"Accept": "text/html"}) as browser:
        home = login_through_hub(browser, spoke_url, "subcenter_sh")
        assert home.status_code == 200 and "subcenter_sh" in user_line(home)
        hub_cookie = browser.cookies.get("lianfu_hub_session", domain="127.0.0.1")
        assert hub_cookie and browser.get(f"{fed.hub_url}/enterprises").status_code == 200

        # Logging out is a form with its CSRF token: without it nothing ends.
        assert browser.post(f"{spoke_url}/logout").status_code == 403
        assert browser.get(f"{spoke_url}/enterprises").status_code == 200

        out = browser.post(f"{spoke_url}/logout", data={"csrf_token": csrf_of(home)})
        assert out.status_code == 303
        to_hub = urlsplit(out.headers["location"])
        assert f"{to_hub.scheme}://{to_hub.netloc}" == fed.hub_url and to_hub.path == "/oauth/logout"
        query = parse_qs(to_hub.query)
        assert query["post_logout_redirect_uri"] == [f"{spoke_url}/login"] and query["id_token_hint"]
        # The hub does not ask again: the hint names the person logged in there.
        ended = browser.get(out.headers["location"])
        assert ended.status_code == 303 and ended.headers["location"] == f"{spoke_url}/login"
        assert browser.get(f"{fed.hub_url}/enterprises", follow_redirects=False).status_code != 200
        assert browser.get(f"{spoke_url}/enterprises", follow_redirects=False).status_code != 200

        # Back at the spoke: the hub asks for the password, it does not let them straight back in.
        page = follow(browser, browser.get(ended.headers["location"]))
        assert page.url.port == fed.hub_port and page.url.path == "/login" and 'name="password"' in page.text

    # The old hub cookie is worth nothing any more.
    with httpx.Client(timeout=20, cookies={"lianfu_hub_session": hub_cookie}) as stolen:
        assert stolen.get(f"{fed.hub_url}/enterprises", follow_redirects=False).status_code != 200
    logouts = [detail for action, _, detail in live_audit(hub_db(fed)) if action == "logout"]
    assert {"rp_initiated": True} in logouts


def test_an_offline_session_logs_out_at_the_spoke_only(fed: Federation) -> None:
    spoke_url = fed.spoke_urls[NODE]
    fed.stop_hub()
    try:
        with httpx.Client(timeout=20, headers={"Accept": "text/html"}) as browser:
            page = follow(browser, browser.get(f"{spoke_url}/login"))
            home = follow(browser, browser.post(f"{spoke_url}/login", data={
                "csrf_token": csrf_of(page), "username": "subcenter_sh", "password": "lianfu-demo", "next": "/"}))
            assert "离线登录" in user_line(home)
            out = browser.post(f"{spoke_url}/logout", data={"csrf_token": csrf_of(home)})
            assert out.status_code == 303 and out.headers["location"] == "/login"
            assert browser.get(f"{spoke_url}/enterprises", follow_redirects=False).status_code != 200
    finally:
        fed.start_hub()
