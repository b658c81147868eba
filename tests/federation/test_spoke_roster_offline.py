"""A sub-center keeps its roster while the hub is away: an enterprise added at its spoke reaches the hub later.

Real processes throughout: a seeded hub, the sc-shanghai spoke enrolled and serving, the hub stopped. The sub-center
head logs in at the spoke offline and adds an enterprise through the spoke's own form; the hub comes back, one
`lianfu sync` round runs, and the office finds the enterprise at the hub, kept by the sub-center.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from common.db import Database
from common.models import Enterprise
from common.validation import make_credit_code, validate_credit_code
from tests.identity.test_spoke_identity import fill_login_form, follow, hub_db, spoke_db, user_line
from tests.live_federation import Federation

NODE = "sc-shanghai"
REGION = "310115"  # Pudong, within the Shanghai sub-center's area


@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    with Federation(enterprises=10) as federation:
        federation.enroll(NODE)
        federation.start_spoke(NODE)
        # One round with the hub up, as a spoke has had before it ever works offline: its slice and its people.
        first = federation.run_sync(NODE)
        assert first.returncode == 0, first.output()
        yield federation


def fresh_credit_code(region: str) -> str:
    """A valid unified social credit code nobody has: an enterprise (authority 9, category 1) registered in `region`,
    with a random organisation code body and both check characters computed."""
    body = "".join(secrets.choice("0123456789") for _ in range(8))
    code = make_credit_code("9", "1", region, body)
    assert validate_credit_code(code) == code and len(code) == 18
    return code


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def enterprises_in(database: Database, credit_code: str) -> list[Enterprise]:
    try:
        with database.reads() as session:
            return list(session.scalars(select(Enterprise).where(Enterprise.credit_code == credit_code)))
    finally:
        database.dispose()


def test_an_enterprise_added_at_the_spoke_while_the_hub_is_down_reaches_the_hub_with_the_next_round(
        fed: Federation) -> None:
    spoke_url = fed.spoke_urls[NODE]
    name = f"离线新增{secrets.token_hex(3)}建材有限公司"
    credit_code = fresh_credit_code(REGION)
    form = {"name": name, "credit_code": credit_code, "region_code": REGION, "industry": "construction",
            "address": "上海市浦东新区测试路8号", "parent_company": "", "node": NODE, "contact_name": "陈经理",
            "contact_phone": "13800138000", "notes": "总部停机期间在分中心录入"}

    fed.stop_hub()
    try:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{fed.hub_url}/healthz", timeout=3)
        with httpx.Client(timeout=20, headers={"Accept": "text/html"}) as browser:
            login = follow(browser, browser.get(f"{spoke_url}/login"))
            assert str(login.url).startswith(spoke_url) and "无法连接总部" in login.text
            home = follow(browser, fill_login_form(browser, login, "subcenter_sh"))
            assert home.status_code == 200 and "离线登录" in user_line(home)

            new = browser.get(f"{spoke_url}/enterprises/new")
            assert new.status_code == 200 and 'name="credit_code"' in new.text
            made = browser.post(f"{spoke_url}/enterprises/new", data={"csrf_token": csrf_of(new), **form})
            assert made.status_code in (302, 303), made.text[:2000]
            assert re.fullmatch(r"/enterprises/[0-9a-f-]{36}", made.headers["location"]), made.headers["location"]
            shown = browser.get(f"{spoke_url}{made.headers['location']}")
            assert shown.status_code == 200 and name in shown.text and credit_code in shown.text
        # Kept at the spoke, waiting for the hub.
        (kept,) = enterprises_in(spoke_db(fed, NODE), credit_code)
        assert kept.node_id == NODE and kept.name == name
    finally:
        fed.start_hub()

    # Back up, the hub has not heard of it: the change waits in the spoke's queue for its next round.
    assert enterprises_in(hub_db(fed), credit_code) == []
    assert fed.sync_status(NODE)["queued"] >= 1
    round_ = fed.run_sync(NODE)
    summary = round_.summary or {}
    assert round_.returncode == 0 and summary.get("ok") and summary.get("pushed", 0) >= 1, round_.output()
    assert summary.get("queued") == 0, summary

    (arrived,) = enterprises_in(hub_db(fed), credit_code)
    assert (arrived.id, arrived.node_id, arrived.name, arrived.region_code) == (kept.id, NODE, name, REGION)
    assert arrived.address == form["address"] and arrived.contact_name == "陈经理"
    # The office, logged in at the hub, finds it through the API as any search would.
    with httpx.Client(timeout=20, headers={"Accept": "text/html"}) as office:
        page = follow(office, office.get(f"{fed.hub_url}/login"))
        assert follow(office, fill_login_form(office, page, "office")).status_code == 200
        found = office.get(f"{fed.hub_url}/api/v1/enterprises", params={"q": name}, headers={"Accept": "application/json"})
        assert found.status_code == 200, found.text
        items = found.json()["items"]
        assert [(e["id"], e["credit_code"], e["node"]) for e in items] == [(str(kept.id), credit_code, NODE)]
