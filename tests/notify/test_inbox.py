"""Each person's inbox, in the pages and the API: their own notices only, newest first, unread ones marked and counted
in every page's header, reading one marks it read, someone else's answers 404."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select

from common.db import Database
from common.models import Notification, User
from common.notify.service import Audience, Notice, notify, unread_count


def _tell(db: Database, key: str, title: str, *, link: str = "/cases", urgent: bool = False, **audience: Any) -> None:
    with db.transaction() as session:
        notify(session, key, Notice(kind="case.dispatched", title=title, body=f"{title}的说明", link=link, urgent=urgent),
               Audience(**audience), channels=("inbox",))


def _user(db: Database, username: str) -> uuid.UUID:
    with db.reads() as session:
        return session.scalar(select(User.id).where(User.username == username))


def _notices(db: Database, username: str) -> dict[str, Notification]:
    with db.reads() as session:
        return {n.title: n for n in session.scalars(select(Notification).where(Notification.user_id == _user(db, username)))}


def test_the_api_lists_only_ones_own_newest_first_and_filters_unread(clients: Any, db: Database,
                                                                     world: dict[str, Any]) -> None:
    sh = _user(db, "subcenter_sh")
    _tell(db, "t:1", "第一条派单", users=(sh,))
    _tell(db, "t:2", "第二条逾期提醒", users=(sh,), urgent=True)
    _tell(db, "t:3", "给办公室的通知", office=True)
    mine = clients("subcenter_sh").get("/api/v1/notifications")
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert [n["title"] for n in body["items"]] == ["第二条逾期提醒", "第一条派单"]
    assert body["items"][0]["urgent"] is True and body["items"][0]["read"] is False
    assert set(body) >= {"items", "limit", "offset", "next_offset"}
    paged = clients("subcenter_sh").get("/api/v1/notifications", params={"limit": 1})
    assert [n["title"] for n in paged.json()["items"]] == ["第二条逾期提醒"] and paged.json()["next_offset"] == 1
    # The office sees its own notices, not the sub-center's.
    assert {n["title"] for n in clients("office").get("/api/v1/notifications").json()["items"]} == {"给办公室的通知"}
    assert clients("workstation_1").get("/api/v1/notifications").json()["items"] == []

    first = body["items"][1]["id"]
    read = clients("subcenter_sh").post(f"/api/v1/notifications/{first}/read")
    assert read.status_code == 200 and read.json()["read"] is True and read.json()["read_at"]
    unread = clients("subcenter_sh").get("/api/v1/notifications", params={"unread": "true"}).json()["items"]
    assert [n["title"] for n in unread] == ["第二条逾期提醒"]
    with db.reads() as session:
        assert unread_count(session, sh) == 1
    # Reading it again keeps the first time it was read.
    again = clients("subcenter_sh").post(f"/api/v1/notifications/{first}/read")
    assert again.json()["read_at"] == read.json()["read_at"]


def test_someone_elses_notice_is_404_and_stays_unread(clients: Any, db: Database, world: dict[str, Any]) -> None:
    _tell(db, "t:office", "办公室的通知", office=True)
    theirs = _notices(db, "office")["办公室的通知"]
    for username in ("subcenter_sh", "liaison_xz", "leader"):
        answer = clients(username).post(f"/api/v1/notifications/{theirs.id}/read")
        assert answer.status_code == 404, (username, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        page = clients(username).post(f"/notifications/{theirs.id}/open", follow_redirects=False)
        assert page.status_code == 404, username
    assert clients("office").post(f"/api/v1/notifications/{uuid.uuid4()}/read").status_code == 404
    assert _notices(db, "office")["办公室的通知"].read_at is None


def test_the_inbox_page_marks_unread_and_opening_one_reads_it_and_follows_its_link(
        clients: Any, db: Database, world: dict[str, Any]) -> None:
    case_id = world["cases"]["sh"]
    sh = _user(db, "subcenter_sh")
    _tell(db, "t:a", "案件已派单", users=(sh,), link=f"/cases/{case_id}")
    _tell(db, "t:b", "签收已逾期", users=(sh,), link="https://evil.example/phish")
    client = clients("subcenter_sh")
    page = client.get("/notifications")
    assert page.status_code == 200
    text = page.text
    assert "通知" in text and "案件已派单" in text and "签收已逾期" in text and "未读" in text
    assert text.index("签收已逾期") < text.index("案件已派单")  # newest first
    assert 'id="notify-count"' in text and ">2</span>" in text
    opened_id = _notices(db, "subcenter_sh")["案件已派单"].id
    opened = client.post(f"/notifications/{opened_id}/open", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/cases/{case_id}"
    assert _notices(db, "subcenter_sh")["案件已派单"].read_at is not None
    # A link that leads off these pages is not followed.
    other = _notices(db, "subcenter_sh")["签收已逾期"].id
    assert client.post(f"/notifications/{other}/open", follow_redirects=False).headers["location"] == "/notifications"
    # An htmx click is told where to go instead of following a redirect.
    _tell(db, "t:c", "第三条", users=(sh,), link="/bulletins")
    third = _notices(db, "subcenter_sh")["第三条"].id
    hx = client.post(f"/notifications/{third}/open", headers={"HX-Request": "true"}, follow_redirects=False)
    assert hx.status_code == 204 and hx.headers["hx-redirect"] == "/bulletins"


def test_mark_all_read_paging_and_the_empty_state(clients: Any, db: Database, world: dict[str, Any]) -> None:
    with db.transaction() as session:  # the world's dispatch told the unit: start from an empty inbox
        session.execute(delete(Notification))
    client = clients("liaison_xz")
    empty = client.get("/notifications")
    assert "暂无通知" in empty.text and "全部标为已读" not in empty.text
    assert 'id="notify-count"' not in empty.text
    for i in range(23):
        _tell(db, f"t:{i:02d}", f"刑侦派单{i:02d}", units=("criminal-investigation",))
    first = client.get("/notifications")
    assert "刑侦派单22" in first.text and "刑侦派单02" not in first.text and "offset=20" in first.text
    assert ">23</span>" in first.text
    second = client.get("/notifications", params={"offset": 20})
    assert "刑侦派单02" in second.text and "刑侦派单03" not in second.text
    done = client.post("/notifications/read-all", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/notifications?done=all-read"
    after = client.get("/notifications?done=all-read")
    assert "所有通知已标为已读" in after.text and 'id="notify-count"' not in after.text
    assert "没有未读通知" in client.get("/notifications", params={"unread": "1"}).text
    assert all(n.read_at is not None for n in _notices(db, "liaison_xz").values())
    # The other liaison officer of another unit was told nothing and read nothing.
    assert _notices(db, "liaison_jz") == {}


def test_every_page_header_shows_the_count_and_the_badge_endpoint_refreshes_it(
        clients: Any, db: Database, world: dict[str, Any]) -> None:
    ws = _user(db, "workstation_1")
    _tell(db, "t:w1", "预警：防范电信诈骗", users=(ws,))
    client = clients("workstation_1")
    for path in ("/", "/enterprises", "/cases", "/bulletins", "/account"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'href="/notifications"' in page.text and 'id="notify-count"' in page.text, path
        assert 'hx-get="/notifications/count"' in page.text and "every 60s" in page.text, path
    badge = client.get("/notifications/count", headers={"HX-Request": "true"})
    assert badge.status_code == 200 and badge.text.strip().startswith('<li id="notify-nav"')
    assert "<html" not in badge.text and ">1</span>" in badge.text and "1 条未读" in badge.text
    assert badge.headers["cache-control"] == "no-store"
    _tell(db, "t:w2", "第二条", users=(ws,))
    assert ">2</span>" in client.get("/notifications/count").text
    client.post("/notifications/read-all")
    assert 'id="notify-count"' not in client.get("/notifications/count").text
    # Not logged in: no badge, no count.
    assert clients().get("/notifications/count").status_code == 401
    assert clients().get("/api/v1/notifications").status_code == 401


def test_a_token_reads_the_inbox_with_the_notifications_scope_only(clients: Any, db: Database,
                                                                  world: dict[str, Any]) -> None:
    from oidc_support import login_and_get_tokens, oauth_client, register

    sh = _user(db, "subcenter_sh")
    _tell(db, "t:token", "令牌读取的通知", users=(sh,))
    info = register(db, first_party=True)
    scope = "openid notifications:read notifications:write"
    rp = oauth_client(clients(), info, scope=scope)
    token, _ = login_and_get_tokens(clients("subcenter_sh"), rp, scope)
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    api = clients()
    listed = api.get("/api/v1/notifications", headers=bearer)
    assert listed.status_code == 200 and [n["title"] for n in listed.json()["items"]] == ["令牌读取的通知"]
    notice_id = listed.json()["items"][0]["id"]
    assert api.post(f"/api/v1/notifications/{notice_id}/read", headers=bearer).json()["read"] is True

    narrow, _ = login_and_get_tokens(clients("subcenter_sh"), oauth_client(clients(), info, scope="openid cases:read"),
                                     "openid cases:read")
    refused = api.get("/api/v1/notifications", headers={"Authorization": f"Bearer {narrow['access_token']}"})
    assert refused.status_code == 403 and 'scope="notifications:read"' in refused.headers["www-authenticate"]
