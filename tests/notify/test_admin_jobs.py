"""The office's pages of the hub's jobs and of the messages it sends, the deliveries API, and the WeCom robots of
units and nodes: in Chinese for the office, refused to everyone else, a robot's key never shown whole."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from common.db import Database
from common.models import AuditEntry, Delivery, Node, Unit
from common.notify.service import Audience, Notice, notify
from common.orm import utcnow

KEY = "73febdcb-1b38-4d1b-a994-790f21fc8d30"
ROBOT = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"
MASKED = "qyapi.weixin.qq.com ****8d30"


def form_post(client: Any, url: str, data: dict[str, str]) -> Any:
    return client.post(url, data={**data, "csrf_token": client.csrf}, follow_redirects=False)


def audited(db: Database, action: str) -> list[AuditEntry]:
    with db.reads() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def queue(db: Database, n: int) -> None:
    with db.transaction() as session:
        session.execute(update(Unit).where(Unit.id == "criminal-investigation").values(webhook_url=ROBOT))
        for i in range(n):
            notify(session, f"admin:{i}", Notice(kind="case.dispatched", title=f"新派单 {i}", group_text=f"第 {i} 件"),
                   Audience(units=("criminal-investigation",)), channels=("wecom",))


def set_status(db: Database, subject: str, **values: Any) -> None:
    with db.transaction() as session:
        session.execute(update(Delivery).where(Delivery.subject == subject).values(**values))


def test_the_jobs_page_lists_the_jobs_in_chinese_and_runs_one(clients: Any, db: Database) -> None:
    office = clients("office")
    page = office.get("/admin/jobs")
    assert page.status_code == 200
    assert "定时任务" in page.text and "立即运行" in page.text and "从未" in page.text or "上次运行" in page.text
    for name in ("deliveries", "escalation", "sync_alert"):
        assert f'data-job="{name}"' in page.text
    assert "向企业微信群机器人和邮箱发送到期的消息" in page.text and "1 秒" in page.text and "1 小时" in page.text
    assert 'href="/admin"' in office.get("/").text and 'href="/admin/jobs"' in office.get("/admin").text
    ran = form_post(office, "/admin/jobs/sync_alert/run", {})
    assert ran.status_code == 303 and ran.headers["location"].startswith("/admin/jobs?ran=sync_alert")
    after = office.get(ran.headers["location"])
    assert "任务 sync_alert 已运行" in after.text
    row = after.text[after.text.index('data-job="sync_alert"'):]
    assert "&#34;quiet&#34;: 0" in row or '"quiet": 0' in row
    assert [e.entity_id for e in audited(db, "job.run")] == ["sync_alert"]
    assert form_post(office, "/admin/jobs/nothing/run", {}).status_code == 404


def test_the_deliveries_page_filters_pages_masks_and_retries(clients: Any, db: Database) -> None:
    queue(db, 60)
    set_status(db, "新派单 1", status="failed", attempts=3, last_error="HTTP 500")
    set_status(db, "新派单 2", status="dead", attempts=10, last_error="refused: errcode 93000: invalid webhook url")
    set_status(db, "新派单 3", status="sent", attempts=1, sent_at=utcnow())
    office = clients("office")
    page = office.get("/admin/deliveries")
    assert page.status_code == 200
    assert "消息推送" in page.text and "企业微信群机器人" in page.text and "待发送" in page.text
    assert MASKED in page.text and KEY not in page.text
    assert page.text.count('class="delivery-row"') == 50 and "下一页" in page.text
    assert office.get("/admin/deliveries?offset=50").text.count('class="delivery-row"') == 10
    failed = office.get("/admin/deliveries?status=failed")
    assert failed.text.count('class="delivery-row"') == 1 and "HTTP 500" in failed.text and "立即重试" in failed.text
    dead = office.get("/admin/deliveries?status=dead&channel=wecom")
    assert dead.text.count('class="delivery-row"') == 1 and "失败，已放弃" in dead.text
    assert office.get("/admin/deliveries?status=sent").text.count("立即重试") == 0
    assert office.get("/admin/deliveries?status=nonsense").status_code == 400
    with db.reads() as session:
        gone = session.scalars(select(Delivery).where(Delivery.subject == "新派单 2")).one()
    retried = form_post(office, f"/admin/deliveries/{gone.id}/retry", {"next": "/admin/deliveries?status=dead"})
    assert retried.status_code == 303 and retried.headers["location"] == "/admin/deliveries?status=dead"
    with db.reads() as session:
        again = session.get(Delivery, gone.id)
    assert again.status == "failed" and again.attempts == 0 and again.next_attempt_at <= utcnow() + timedelta(seconds=1)
    assert [e.entity_id for e in audited(db, "delivery.retry")] == [str(gone.id)]


def test_the_deliveries_api_lists_for_the_office(clients: Any, db: Database) -> None:
    queue(db, 3)
    set_status(db, "新派单 0", status="failed", attempts=2, last_error="HTTP 500")
    office = clients("office")
    found = office.get("/api/v1/deliveries", params={"status": "failed"})
    assert found.status_code == 200
    [item] = found.json()["items"]
    assert item["status"] == "failed" and item["attempts"] == 2 and item["target"] == MASKED
    assert item["channel"] == "wecom" and item["last_error"] == "HTTP 500" and KEY not in json.dumps(found.json())
    assert len(office.get("/api/v1/deliveries").json()["items"]) == 3
    bad = office.get("/api/v1/deliveries", params={"status": "lost"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")


def test_only_the_office_sees_jobs_and_deliveries(clients: Any, db: Database) -> None:
    queue(db, 1)
    with db.reads() as session:
        one = session.scalars(select(Delivery)).first()
    for username in ("liaison_xz", "subcenter_sh", "workstation_1"):
        person = clients(username)
        for path in ("/admin", "/admin/jobs", "/admin/deliveries", "/api/v1/deliveries"):
            assert person.get(path).status_code == 403, (username, path)
        assert form_post(person, "/admin/jobs/deliveries/run", {}).status_code == 403
        assert form_post(person, f"/admin/deliveries/{one.id}/retry", {}).status_code == 403
        assert 'href="/admin/jobs"' not in person.get("/").text and 'href="/admin"' not in person.get("/").text
        units = person.get("/api/v1/units").json()["items"]
        assert all("webhook_url" not in u for u in units)
    assert clients("leader").get("/admin/jobs").status_code == 200
    stranger = clients()
    assert stranger.get("/api/v1/deliveries").status_code == 401
    assert audited(db, "job.run") == []


def test_the_office_sets_a_units_and_a_nodes_robot_through_the_api(clients: Any, db: Database) -> None:
    office = clients("office")
    changed = office.patch("/api/v1/units/traffic", json={"webhook_url": ROBOT})
    assert changed.status_code == 200 and changed.json()["webhook_url"] == ROBOT
    node = office.patch("/api/v1/nodes/sc-shanghai", json={"webhook_url": "http://10.1.2.3:8080/robot?key=abcd1234"})
    assert node.status_code == 200 and node.json()["webhook_url"] == "http://10.1.2.3:8080/robot?key=abcd1234"
    for bad in ("ftp://example.test/x", "not a url", "https://", "javascript:alert(1)"):
        refused = office.patch("/api/v1/units/traffic", json={"webhook_url": bad})
        assert refused.status_code in (400, 422), bad
        assert "webhook_url" in refused.text
        assert office.patch("/api/v1/nodes/sc-shanghai", json={"webhook_url": bad}).status_code in (400, 422)
    with db.reads() as session:
        assert session.get(Unit, "traffic").webhook_url == ROBOT
        assert session.get(Node, "sc-shanghai").webhook_url == "http://10.1.2.3:8080/robot?key=abcd1234"
    listed = {u["id"]: u for u in office.get("/api/v1/units").json()["items"]}
    assert listed["traffic"]["webhook_url"] == ROBOT
    assert office.get("/api/v1/nodes/sc-shanghai").json()["webhook_url"].endswith("abcd1234")
    assert "webhook_url" not in clients("subcenter_sh").get("/api/v1/nodes/sc-shanghai").json()
    cleared = office.patch("/api/v1/units/traffic", json={"webhook_url": None})
    assert cleared.status_code == 200 and cleared.json()["webhook_url"] is None
    trail = json.dumps([e.detail for e in audited(db, "update")], ensure_ascii=False)
    assert "webhook_url" in trail and KEY not in trail and "abcd1234" not in trail and "****8d30" in trail


def test_the_office_sets_robots_on_the_units_and_nodes_pages(clients: Any, db: Database) -> None:
    office = clients("office")
    assert "企业微信群机器人" in office.get("/admin/units").text
    saved = form_post(office, "/admin/units/traffic", {"webhook_url": ROBOT})
    assert saved.status_code == 303
    page = office.get("/admin/units").text
    assert MASKED in page
    saved = form_post(office, "/admin/nodes/sc-shanghai", {"webhook_url": ROBOT})
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/nodes#node-sc-shanghai"
    nodes = office.get("/admin/nodes").text
    row = nodes[nodes.index('data-node="sc-shanghai"'):]
    assert MASKED in row[:row.index("</tr>")]
    refused = form_post(office, "/admin/nodes/sc-shanghai", {"webhook_url": "ftp://x"})
    assert refused.status_code in (400, 422) and "以 https:// 开头的网址" in refused.text
    refused = form_post(office, "/admin/units/traffic", {"webhook_url": "ftp://x"})
    assert refused.status_code in (400, 422) and "以 https:// 开头的网址" in refused.text
    with db.reads() as session:
        assert session.get(Unit, "traffic").webhook_url == ROBOT
        assert session.get(Node, "sc-shanghai").webhook_url == ROBOT
    assert form_post(office, "/admin/nodes/sc-shanghai", {"webhook_url": ""}).status_code == 303
    with db.reads() as session:
        assert session.get(Node, "sc-shanghai").webhook_url is None
    assert form_post(clients("liaison_xz"), "/admin/nodes/sc-shanghai", {"webhook_url": ROBOT}).status_code == 403


def test_the_directory_sent_to_spokes_carries_no_robot(db: Database, world: dict[str, Any]) -> None:
    from sync.directory import directory_for

    with db.transaction() as session:
        session.execute(update(Node).values(webhook_url=ROBOT))
        session.execute(update(Unit).values(webhook_url=ROBOT))
    with db.reads() as session:
        sent = json.dumps(directory_for(session, "sc-shanghai"), default=str)
    assert "webhook" not in sent and KEY not in sent
    assert re.search(r'"units": \[', sent)
