"""With real processes: a sub-center head told at the hub finds the notice at their spoke after a sync round, reads it
there while the hub is down, and the hub learns it was read once the hub is back and a round runs."""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from urllib.parse import urljoin

import httpx
import pytest
from sqlalchemy import select

from common.db import Database
from common.models import Notification, User
from common.notify.service import Audience, Notice, notify
from tests.live_federation import Federation

PASSWORD = "lianfu-demo"
TITLE = "新派单：离线也能看到的通知"


@pytest.fixture(scope="module")
def fed() -> Iterator[Federation]:
    with Federation(enterprises=10) as federation:
        federation.enroll("sc-shanghai")
        federation.start_spoke("sc-shanghai")
        yield federation


def _db(path: str) -> Database:
    return Database.connect(f"sqlite:///{path}")


def _follow(browser: httpx.Client, response: httpx.Response, limit: int = 10) -> httpx.Response:
    for _ in range(limit):
        if response.status_code not in (301, 302, 303, 307):
            return response
        response = browser.get(urljoin(str(response.url), response.headers["location"]))
    raise AssertionError("too many redirects")


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def _notice(db: Database, notice_id: uuid.UUID) -> Notification | None:
    try:
        with db.reads() as session:
            return session.get(Notification, notice_id)
    finally:
        db.dispose()


def test_a_spoke_user_reads_a_notice_offline_and_the_hub_learns_it(fed: Federation) -> None:
    hub = _db(str(fed.hub_dir / "lianfu.db"))
    try:
        with hub.transaction() as session:
            head = session.scalars(select(User).where(User.username == "subcenter_sh")).one()
            notify(session, f"test:{uuid.uuid4()}", Notice(kind="case.dispatched", title=TITLE, body="请及时查看。",
                                                           link="/bulletins"),
                   Audience(users=(head.id,)), channels=("inbox",))
        with hub.reads() as session:
            notice_id = session.scalars(select(Notification.id).where(Notification.title == TITLE)).one()
    finally:
        hub.dispose()
    first = fed.run_sync("sc-shanghai")
    assert first.returncode == 0, first.output()
    held = _notice(_db(str(fed.spoke_dir("sc-shanghai") / "lianfu.db")), notice_id)
    assert held is not None and held.read_at is None

    spoke_url = fed.spoke_urls["sc-shanghai"]
    fed.stop_hub()
    try:
        with httpx.Client(timeout=20, headers={"Accept": "text/html"}) as browser:
            page = _follow(browser, browser.get(f"{spoke_url}/login"))
            assert str(page.url).startswith(spoke_url) and 'name="password"' in page.text
            target = re.search(r'name="next" value="([^"]*)"', page.text)
            form = {"csrf_token": _csrf(page), "username": "subcenter_sh", "password": PASSWORD,
                    "next": target.group(1).replace("&amp;", "&") if target else "/"}
            home = _follow(browser, browser.post(f"{spoke_url}/login", data=form))
            assert home.status_code == 200 and "离线登录" in home.text
            assert 'id="notify-count"' in home.text  # the header's badge, offline too
            inbox = browser.get(f"{spoke_url}/notifications")
            assert inbox.status_code == 200 and TITLE in inbox.text and "未读" in inbox.text
            opened = browser.post(f"{spoke_url}/notifications/{notice_id}/open", data={"csrf_token": _csrf(inbox)})
            assert opened.status_code == 303 and opened.headers["location"] == "/bulletins"
            listed = browser.get(f"{spoke_url}/api/v1/notifications", headers={"Accept": "application/json"}).json()
            assert {n["id"]: n["read"] for n in listed["items"]}[str(notice_id)] is True
        read_at_spoke = _notice(_db(str(fed.spoke_dir("sc-shanghai") / "lianfu.db")), notice_id)
        assert read_at_spoke is not None and read_at_spoke.read_at is not None
    finally:
        fed.start_hub()
    back = fed.run_sync("sc-shanghai")
    assert back.returncode == 0, back.output()
    assert (back.summary or {}).get("rejected") in (None, 0, []), back.output()
    on_hub = _notice(_db(str(fed.hub_dir / "lianfu.db")), notice_id)
    assert on_hub is not None and on_hub.read_at is not None
