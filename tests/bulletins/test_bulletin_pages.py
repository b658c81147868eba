"""The bulletins' pages: the office publishes, the target node sees a banner and acknowledges, the office reminds.

Each test runs on SQLite and on PostgreSQL (the `clients` fixture's database), through the real forms (CSRF
included) of a hub app.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import func, select

from common.db import Database
from common.models import (
    AuditEntry,
    Bulletin,
    BulletinAck,
    BulletinAudience,
    BulletinReminder,
)

HTML = {"Accept": "text/html"}
NEW_ID = re.compile(r"^/bulletins/([0-9a-f-]{36})\?")


def _form(client: Any, **fields: Any) -> dict[str, Any]:
    return {"csrf_token": client.csrf, **fields}


def publish(office: Any, title: str, nodes: list[str], kind: str = "warning", severity: str = "serious",
            publish_now: bool = True, files: dict[str, Any] | None = None) -> uuid.UUID:
    """Publish (or draft) through the office's form; the id is read from where the form sends the office."""
    data = _form(office, kind=kind, severity=severity, title=title, body=f"{title}：请各节点做好防范。",
                 publish="1" if publish_now else "0", **{"targets.nodes": nodes})
    response = office.post("/bulletins/new", data=data, files=files, headers=HTML, follow_redirects=False)
    assert response.status_code == 303, response.text
    match = NEW_ID.match(response.headers["location"])
    assert match, response.headers["location"]
    return uuid.UUID(match.group(1))


def banner(client: Any) -> str:
    """The banner of unacknowledged warnings on an ordinary page (the roster), or "" when there is none."""
    page = client.get("/enterprises", headers=HTML)
    assert page.status_code == 200
    found = re.search(r'<section class="bulletin-banner".*?</section>', page.text, re.DOTALL)
    return found.group(0) if found else ""


def counts(db: Database) -> dict[str, int]:
    with db.reads() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Bulletin, BulletinAudience, BulletinAck, BulletinReminder)}


def audit_actions(db: Database, action: str) -> list[AuditEntry]:
    with db.reads() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


# --- publishing and who sees it ------------------------------------------------------------------------------

def test_a_warning_for_shanghai_reaches_shanghai_only(clients: Any, db: Database) -> None:
    office, sh, sz, ws = clients("office"), clients("subcenter_sh"), clients("subcenter_sz"), clients("workstation_1")
    form = office.get("/bulletins/new", headers=HTML)
    assert form.status_code == 200
    for name in ("kind", "severity", "title", "body", "targets.all", "targets.regions", "targets.industries",
                 "targets.nodes", "attachments"):
        assert f'name="{name}"' in form.text, name
    assert "sc-shanghai" in form.text and "上海市" in form.text  # node and region choices

    bulletin_id = publish(office, "台风红色预警", ["sc-shanghai"],
                          files={"attachments": ("防台须知.txt", "关好门窗".encode(), "text/plain")})
    with db.reads() as session:
        audience = set(session.scalars(select(BulletinAudience.node_id).where(BulletinAudience.bulletin_id == bulletin_id)))
        assert audience == {"sc-shanghai"}
    page = office.get(f"/bulletins/{bulletin_id}?published=1", headers=HTML)
    assert "信息已发布" in page.text and "0 / 1 节点已确认" in page.text and "防台须知.txt" in page.text

    # Shanghai: the banner on any page, the list with the warning first and open, the page with an ack button.
    shown = banner(sh)
    assert "台风红色预警" in shown and "严重" in shown and f"/bulletins/{bulletin_id}" in shown
    listing = sh.get("/bulletins", headers=HTML).text
    first = re.search(r'<li class="card bulletin-item[^"]*">.*?</li>', listing, re.DOTALL).group(0)  # type: ignore[union-attr]
    assert "台风红色预警" in first and "is-open" in first and "未确认" in first
    detail = sh.get(f"/bulletins/{bulletin_id}", headers=HTML)
    assert detail.status_code == 200 and 'id="acknowledge"' in detail.text and "关好门窗" not in detail.text
    attachment = re.search(r'href="/attachments/([0-9a-f-]{36})"', detail.text).group(1)  # type: ignore[union-attr]
    assert sh.get(f"/attachments/{attachment}").content == "关好门窗".encode()

    # Suzhou: no banner for it, not in its list, its page and file are not found.
    assert "台风红色预警" not in banner(sz)
    assert "台风红色预警" not in sz.get("/bulletins", headers=HTML).text
    other = sz.get(f"/bulletins/{bulletin_id}", headers=HTML)
    assert other.status_code == 404 and "台风红色预警" not in other.text
    assert sz.get(f"/attachments/{attachment}").status_code == 404
    # Nor does the workstation under Shanghai: a bulletin for a node goes to it and to the nodes above it.
    assert banner(ws) == "" and ws.get(f"/bulletins/{bulletin_id}", headers=HTML).status_code == 404
    # The office, whose node is never a target, has no banner.
    assert banner(office) == ""


def test_a_sub_center_follows_its_workstations_bulletins_without_acknowledging_them(clients: Any) -> None:
    office, sh, ws = clients("office"), clients("subcenter_sh"), clients("workstation_1")
    bulletin_id = publish(office, "工作站专项预警", ["ws-demo-1"])
    assert "工作站专项预警" in banner(ws)
    assert "工作站专项预警" not in banner(sh)
    page = sh.get(f"/bulletins/{bulletin_id}", headers=HTML)
    assert page.status_code == 200 and 'id="acknowledge"' not in page.text and "由其自行确认" in page.text
    refused = sh.post(f"/bulletins/{bulletin_id}/ack", data=_form(sh), headers=HTML)
    assert refused.status_code == 409 and "此信息未推送给本节点" in refused.text
    assert sh.post(f"/api/v1/bulletins/{bulletin_id}/ack").status_code == 409
    assert "0 / 1 节点已确认" in office.get(f"/bulletins/{bulletin_id}", headers=HTML).text


def test_acknowledging_from_the_page_clears_the_banner_and_shows_at_the_office(clients: Any, db: Database) -> None:
    office, sh = clients("office"), clients("subcenter_sh")
    bulletin_id = publish(office, "暴雨橙色预警", ["sc-shanghai", "sc-suzhou"])
    assert "暴雨橙色预警" in banner(sh)

    response = sh.post(f"/bulletins/{bulletin_id}/ack", data=_form(sh), headers=HTML, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/bulletins/{bulletin_id}?acked=1"
    assert "暴雨橙色预警" not in banner(sh)
    own = sh.get(response.headers["location"], headers=HTML).text
    assert "已为本节点确认收到" in own and "上海分中心主任（subcenter_sh）" in own and 'id="acknowledge"' not in own
    # A second acknowledgement changes nothing.
    sh.post(f"/bulletins/{bulletin_id}/ack", data=_form(sh), headers=HTML, follow_redirects=False)
    with db.reads() as session:
        acks = session.execute(select(BulletinAck.node_id, BulletinAck.at).where(BulletinAck.bulletin_id == bulletin_id)).all()
    assert [a.node_id for a in acks] == ["sc-shanghai"]
    entries = audit_actions(db, "bulletin.ack")
    assert [(e.actor, e.entity_id) for e in entries] == [("subcenter_sh", str(bulletin_id))]

    page = office.get(f"/bulletins/{bulletin_id}", headers=HTML).text
    assert "1 / 2 节点已确认" in page
    row_sh = re.search(r'<tr id="node-sc-shanghai".*?</tr>', page, re.DOTALL).group(0)  # type: ignore[union-attr]
    row_sz = re.search(r'<tr id="node-sc-suzhou".*?</tr>', page, re.DOTALL).group(0)  # type: ignore[union-attr]
    local = acks[0].at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert "已确认" in row_sh and "上海分中心主任（subcenter_sh）" in row_sh and local in row_sh
    assert "未确认" in row_sz and "subcenter_sz" not in row_sz
    assert "1 / 2 节点已确认" in office.get("/bulletins", headers=HTML).text
    api = office.get(f"/api/v1/bulletins/{bulletin_id}").json()["audience"]
    assert {row["node"]: row["acknowledged_by"] for row in api} == {"sc-shanghai": "subcenter_sh", "sc-suzhou": None}


def test_a_node_sees_what_it_has_not_acknowledged_first(clients: Any) -> None:
    office, sh = clients("office"), clients("subcenter_sh")
    older = publish(office, "较早的预警", ["sc-shanghai"])
    newer = publish(office, "较新的预警", ["sc-shanghai"])
    assert sh.post(f"/api/v1/bulletins/{newer}/ack").status_code == 201
    listing = sh.get("/bulletins", headers=HTML).text
    assert listing.index("较早的预警") < listing.index("较新的预警")
    assert sh.post(f"/api/v1/bulletins/{older}/ack").status_code == 201
    listing = sh.get("/bulletins", headers=HTML).text
    assert listing.index("较新的预警") < listing.index("较早的预警")
    fragment = sh.get("/bulletins?kind=warning", headers={**HTML, "HX-Request": "true"}).text
    assert fragment.lstrip().startswith('<section id="bulletin-rows"') and "<html" not in fragment
    assert "全体通知" not in fragment and "较新的预警" in fragment  # the world's news item is filtered out
    assert '<a href="/bulletins" aria-current="page">预警资讯</a>' in listing
    english = sh.get("/bulletins?lang=en", headers=HTML).text
    assert "Warnings, news and legal information" in english and "Acknowledged" in english and "预警资讯" not in english


# --- reminders ----------------------------------------------------------------------------------------------

def test_the_office_reminds_nodes_that_have_not_acknowledged(clients: Any, db: Database, world: dict[str, Any]) -> None:
    office, sh, sz = clients("office"), clients("subcenter_sh"), clients("subcenter_sz")
    bulletin_id = publish(office, "防范电信诈骗提示", ["sc-shanghai", "sc-suzhou"], kind="news", severity="notice")
    assert "防范电信诈骗提示" not in banner(sh)  # news, not a warning: no banner until reminded
    assert sz.post(f"/api/v1/bulletins/{bulletin_id}/ack").status_code == 201

    page = office.get(f"/bulletins/{bulletin_id}", headers=HTML).text
    assert 'name="nodes" value="sc-shanghai"' in page and 'name="nodes" value="sc-suzhou"' not in page
    response = office.post(f"/bulletins/{bulletin_id}/remind", data=_form(office, nodes=["sc-shanghai"]), headers=HTML,
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/bulletins/{bulletin_id}?reminded=1"
    with db.reads() as session:
        reminders = session.execute(select(BulletinReminder.node_id, BulletinReminder.reminded_by)
                                    .where(BulletinReminder.bulletin_id == bulletin_id)).all()
    assert [(r.node_id, r.reminded_by) for r in reminders] == [("sc-shanghai", world["users"]["office"])]
    assert [(e.actor, e.detail) for e in audit_actions(db, "bulletin.remind")] == [("office", {"nodes": ["sc-shanghai"]})]
    shown = office.get(response.headers["location"], headers=HTML).text
    assert "已向 1 个节点发送催办" in shown
    row_sh = re.search(r'<tr id="node-sc-shanghai".*?</tr>', shown, re.DOTALL).group(0)  # type: ignore[union-attr]
    assert "1 次" in row_sh

    # The reminded node: the banner now names it, "已催办", and its page says when the office reminded it.
    shown_banner = banner(sh)
    assert "防范电信诈骗提示" in shown_banner and "已催办" in shown_banner
    assert "中心办公室已于" in sh.get(f"/bulletins/{bulletin_id}", headers=HTML).text
    assert "防范电信诈骗提示" not in banner(sz)

    # A node that has acknowledged cannot be reminded; ticking nothing is an error next to the choices.
    before = counts(db)
    refused = office.post(f"/bulletins/{bulletin_id}/remind", data=_form(office, nodes=["sc-suzhou"]), headers=HTML)
    assert refused.status_code == 422 and "请选择尚未确认的推送节点" in refused.text and 'id="e-nodes"' in refused.text
    empty = office.post(f"/bulletins/{bulletin_id}/remind", data=_form(office), headers=HTML)
    assert empty.status_code == 422 and "请选择尚未确认的推送节点" in empty.text
    assert counts(db) == before

    # Once every target acknowledged, there is nobody left to remind.
    assert sh.post(f"/bulletins/{bulletin_id}/ack", data=_form(sh), headers=HTML, follow_redirects=False).status_code == 303
    assert "防范电信诈骗提示" not in banner(sh)
    acked = counts(db)
    done = office.post(f"/api/v1/bulletins/{bulletin_id}/remind", json={})
    assert done.status_code == 409 and counts(db) == acked and acked["bulletin_reminder"] == 1


# --- drafts ---------------------------------------------------------------------------------------------------

def test_a_draft_reaches_nobody_until_published(clients: Any, db: Database) -> None:
    office, sh = clients("office"), clients("subcenter_sh")
    draft = publish(office, "法律信息草稿", ["sc-shanghai"], kind="legal", severity="info", publish_now=False)
    assert "草稿已保存" in office.get(f"/bulletins/{draft}?saved=1", headers=HTML).text
    assert "法律信息草稿" in office.get("/bulletins", headers=HTML).text
    assert sh.get(f"/bulletins/{draft}", headers=HTML).status_code == 404
    assert "法律信息草稿" not in sh.get("/bulletins", headers=HTML).text

    response = office.post(f"/bulletins/{draft}/publish", data=_form(office), headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert sh.get(f"/bulletins/{draft}", headers=HTML).status_code == 200
    assert len(audit_actions(db, "bulletin.publish")) == 1
    again = office.post(f"/bulletins/{draft}/publish", data=_form(office), headers=HTML)
    assert again.status_code == 409 and "此信息已经发布" in again.text
    assert len(audit_actions(db, "bulletin.publish")) == 1

    # The API publishes a draft with PATCH {"publish": true}.
    created = office.post("/api/v1/bulletins", json={"kind": "news", "title": "接口草稿", "body": "内容",
                                                     "targets": {"nodes": ["sc-suzhou"]}, "publish": False}).json()
    assert created["published_at"] is None
    assert office.patch(f"/api/v1/bulletins/{created['id']}", json={"publish": True}).json()["published_at"]


# --- who may write ----------------------------------------------------------------------------------------------

def test_only_the_office_creates_publishes_and_reminds(clients: Any, db: Database, world: dict[str, Any]) -> None:
    office = clients("office")
    draft = publish(office, "仅办公室可发布", ["sc-shanghai"], publish_now=False)
    published = world["bulletins"]["all"]
    before = counts(db)
    audit_before = len(audit_actions(db, "create"))
    for username in ("subcenter_sh", "workstation_1", "liaison_xz"):
        user = clients(username)
        assert user.get("/bulletins/new", headers=HTML).status_code == 403, username
        created = user.post("/bulletins/new", headers=HTML, data=_form(user, kind="warning", title="越权", body="越权",
                                                                      publish="1", **{"targets.all": "1"}))
        assert created.status_code == 403 and "越权" not in created.text, username
        assert user.post(f"/bulletins/{draft}/publish", data=_form(user), headers=HTML).status_code == 403, username
        assert user.post(f"/bulletins/{published}/remind", data=_form(user, nodes=["sc-shanghai"]),
                         headers=HTML).status_code == 403, username
        api = user.post("/api/v1/bulletins", json={"kind": "warning", "title": "越权", "body": "越权"})
        assert api.status_code == 403 and api.headers["content-type"].startswith("application/problem+json"), username
        assert user.post(f"/api/v1/bulletins/{published}/remind", json={}).status_code == 403, username
        assert "新建" not in user.get("/bulletins", headers=HTML).text
    assert counts(db) == before
    assert len(audit_actions(db, "create")) == audit_before
    assert audit_actions(db, "bulletin.remind") == [] and audit_actions(db, "bulletin.publish") == []
    assert 'href="/bulletins/new"' in office.get("/bulletins", headers=HTML).text


# --- validation -------------------------------------------------------------------------------------------------

def test_validation_errors_are_shown_next_to_the_fields_in_chinese(clients: Any, db: Database) -> None:
    office = clients("office")
    before = counts(db)
    response = office.post("/bulletins/new", headers=HTML,
                           data=_form(office, kind="warning", severity="serious", title="  ", body="正文", publish="1"))
    assert response.status_code == 422
    page = response.text
    assert re.search(r'id="e-title">此项必填<', page)
    assert re.search(r'id="e-targets">请至少选择一个推送对象<', page)
    assert 'aria-invalid="true" aria-describedby="e-title"' in page
    assert "正文" in page  # what was typed is kept

    unknown = office.post("/bulletins/new", headers=HTML, data=_form(office, kind="rumour", title="标题", body="正文",
                                                                    publish="1", **{"targets.nodes": ["sc-nowhere"]}))
    assert unknown.status_code == 422
    assert re.search(r'id="e-kind">不是允许的取值<', unknown.text)
    assert re.search(r'id="e-targets">没有这些节点：sc-nowhere<', unknown.text)

    english = office.post("/bulletins/new?lang=en", headers=HTML,
                          data=_form(office, kind="warning", title="", body="x", publish="1"))
    assert english.status_code == 422 and re.search(r'id="e-title">This field is required<', english.text)
    assert counts(db) == before


def test_an_industry_reaches_the_nodes_holding_its_enterprises(clients: Any, db: Database) -> None:
    office = clients("office")
    response = office.post("/bulletins/new", headers=HTML, follow_redirects=False,
                           data=_form(office, kind="warning", severity="critical", title="建筑业安全预警", body="高处作业",
                                      publish="1", **{"targets.industries": ["construction"]}))
    assert response.status_code == 303
    bulletin_id = uuid.UUID(NEW_ID.match(response.headers["location"]).group(1))  # type: ignore[union-attr]
    with db.reads() as session:
        audience = set(session.scalars(select(BulletinAudience.node_id).where(BulletinAudience.bulletin_id == bulletin_id)))
    # The world's construction enterprises are at both sub-centers and the workstation (and the hub, never a target).
    assert audience == {"sc-shanghai", "sc-suzhou", "ws-demo-1"}
    assert "建筑业安全预警" in banner(clients("workstation_1")) and "紧急" in banner(clients("workstation_1"))
    nobody = office.post("/bulletins/new", headers=HTML,
                         data=_form(office, kind="warning", title="化工预警", body="x", publish="1",
                                    **{"targets.industries": ["chemicals"]}))
    assert nobody.status_code == 422 and "所选推送对象目前没有对应的节点" in nobody.text
