"""The office's pages of police units and nodes, and the units' JSON API.

Units: listed in their order with their liaison officers and leaders; police stations added (valid and refused ids,
duplicates) through the page and the API; renamed and reordered; a unit with open cases dispatched to it is not
deactivated, and says so in Chinese. Nodes: names, regions, parents, heads, statuses and last sync (Beijing time);
filters; a suspension asked for from the nodes page goes through the existing review and the node ends suspended.
Only the office, only at the hub: other roles get 403, a spoke refuses with where it is done.
"""
from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from common.db import Database
from common.models import AuditEntry, Node, NodeApplication, SyncPeer, Unit, User
from common.reference import UNITS

CARD_RE = re.compile(r'<li class="panel stack unit-card" id="unit-([a-z0-9-]+)"')
OPEN_CASES = "该单位仍有 1 件派给它的在办案事件，不能停用"


def unit_ids_on_page(text: str) -> list[str]:
    return CARD_RE.findall(text)


def card(text: str, unit_id: str) -> str:
    """The part of the units page about one unit: from its card to the next one."""
    start = text.index(f'id="unit-{unit_id}"')
    following = text.find('class="panel stack unit-card"', start)
    return text[start:following if following != -1 else len(text)]


def visible_text(page: str) -> str:
    """What a person reads of a page's main part (or of a piece of it): the text without tags and attributes."""
    body = page[page.index("<main"):page.index("</main>")] if "<main" in page else page
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def units(db: Database) -> dict[str, Unit]:
    with db.reads() as session:
        found = {u.id: u for u in session.scalars(select(Unit))}
        session.expunge_all()
        return found


def shape(found: dict[str, Unit]) -> dict[str, tuple[str, bool, int]]:
    return {k: (u.name, u.active, u.sort_order) for k, u in found.items()}


def audit_count(db: Database, entity_type: str) -> int:
    with db.reads() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == entity_type)) or 0


def form_post(client: Any, url: str, data: dict[str, str]) -> Any:
    return client.post(url, data={**data, "csrf_token": client.csrf}, follow_redirects=False)


# --- units: the list ----------------------------------------------------------------------------------------------

def test_the_units_page_lists_every_unit_in_order_with_its_liaisons_and_leaders(clients: Any, db: Database) -> None:
    with db.transaction() as session:
        liaison = session.scalars(select(User).where(User.username == "liaison_xz")).one()
        liaison.phone = "13812345678"
        session.add(User(username="xz_leader", display_name="刑侦大队分管领导", role="office", node_id="hub",
                         unit_id="criminal-investigation", is_leader=True, password_hash="x", phone="13987654321"))
        session.add(User(username="jz_gone", display_name="经侦前联络员", role="liaison", node_id="hub",
                         unit_id="economic-crime", password_hash="x", active=False))
    page = clients("office").get("/admin/units")
    assert page.status_code == 200
    assert unit_ids_on_page(page.text) == [unit_id for unit_id, _, _ in UNITS]
    xz = card(page.text, "criminal-investigation")
    assert "刑侦大队" in xz and "Criminal Investigation Brigade" in xz and "在办派单：1 件" in xz
    assert "刑侦大队联络员" in xz and "liaison_xz" in xz and "138****5678" in xz and "13812345678" not in xz
    assert "分管领导" in xz and "刑侦大队分管领导" in xz and "139****4321" in xz
    jz = card(page.text, "economic-crime")
    assert "经侦大队联络员" in jz and "经侦前联络员" in jz and "已停用" in jz
    assert "尚未指定联络员" in card(page.text, "traffic")
    # The menu's 管理 is current there, and the administration page leads to the units and to the nodes.
    assert 'href="/admin" aria-current="page"' in page.text and ">管理<" in page.text
    index = clients("office").get("/admin")
    assert index.status_code == 200
    assert 'href="/admin/units"' in index.text and ">单位管理<" in index.text
    assert 'href="/admin/nodes"' in index.text and ">节点管理<" in index.text


def test_every_logged_in_role_lists_the_active_units_and_the_office_also_the_deactivated(clients: Any, db: Database) -> None:
    office = clients("office")
    assert office.patch("/api/v1/units/traffic", json={"active": False}).status_code == 200
    expected = [unit_id for unit_id, _, _ in UNITS if unit_id != "traffic"]
    for username in ("office", "leader", "liaison_xz", "subcenter_sh", "workstation_1"):
        answer = clients(username).get("/api/v1/units")
        assert answer.status_code == 200, (username, answer.text)
        items = answer.json()["items"]
        assert [u["id"] for u in items] == expected, username
        assert set(items[0]) >= {"id", "name", "name_en", "kind", "active"}
        # The unit's WeCom robot is the office's to see (its key lets anyone post to the group).
        assert items[0].pop("webhook_url", "absent") == (None if username in ("office", "leader") else "absent")
        assert items[0] == {"id": "command-center", "name": "指挥中心", "name_en": "Command Center",
                            "kind": "department", "active": True, "sort_order": 0}
    every = office.get("/api/v1/units", params={"include_inactive": "true"}).json()["items"]
    assert [u["id"] for u in every] == [unit_id for unit_id, _, _ in UNITS]
    assert next(u for u in every if u["id"] == "traffic")["active"] is False
    # Others asking for the deactivated ones still get the active ones only.
    mine = clients("liaison_xz").get("/api/v1/units", params={"include_inactive": "true"}).json()["items"]
    assert "traffic" not in [u["id"] for u in mine]
    assert clients().get("/api/v1/units").status_code == 401


# --- units: adding a police station ---------------------------------------------------------------------------

REFUSED_IDS = {
    "binhai": "派出所编号须以 ps- 开头", "ps-Binhai": "派出所编号须以 ps- 开头", "ps-滨海": "派出所编号须以 ps- 开头",
    "ps-": "派出所编号须以 ps- 开头", "ps--binhai": "派出所编号须以 ps- 开头", "ps-binhai-": "派出所编号须以 ps- 开头",
    "ps-bin hai": "派出所编号须以 ps- 开头", "traffic": "派出所编号须以 ps- 开头",
    "ps-" + "a" * 62: "派出所编号须以 ps- 开头", "": "此项必填", "ps-huilong": "已有使用此编号的单位",
}


def test_the_office_adds_a_police_station_through_the_page(clients: Any, db: Database) -> None:
    office = clients("office")
    office.get("/admin/units")
    before = units(db)
    for bad, message in REFUSED_IDS.items():
        refused = form_post(office, "/admin/units", {"id": bad, "name": "滨海派出所", "name_en": ""})
        assert refused.status_code == 422, bad
        assert 'id="e-id"' in refused.text and message in refused.text, bad
        assert f'value="{html.escape(bad)}"' in refused.text  # what was typed stays in the form
    refused = form_post(office, "/admin/units", {"id": "ps-binhai", "name": "", "name_en": "Binhai"})
    assert refused.status_code == 422 and 'id="e-name"' in refused.text and "此项必填" in refused.text
    refused = form_post(office, "/admin/units", {"id": "ps-binhai", "name": "汇龙派出所", "name_en": ""})
    assert refused.status_code == 422 and "已有同名的单位" in refused.text
    assert units(db).keys() == before.keys()

    added = form_post(office, "/admin/units", {"id": "ps-binhai", "name": " 滨海派出所 ", "name_en": "Binhai Police Station"})
    assert added.status_code == 303 and added.headers["location"] == "/admin/units#unit-ps-binhai"
    unit = units(db)["ps-binhai"]
    assert (unit.name, unit.name_en, unit.kind, unit.active) == ("滨海派出所", "Binhai Police Station", "station", True)
    assert unit.sort_order > max(u.sort_order for u in before.values())
    page = office.get("/admin/units")
    assert unit_ids_on_page(page.text)[-1] == "ps-binhai" and "派出所" in card(page.text, "ps-binhai")
    # It is dispatched to like any unit, and every role lists it.
    assert "ps-binhai" in [u["id"] for u in clients("liaison_xz").get("/api/v1/units").json()["items"]]
    with db.reads() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "unit", AuditEntry.action == "create")).one()
        assert entry.entity_id == "ps-binhai" and entry.actor == "office"


def test_the_office_adds_a_police_station_through_the_api(clients: Any, db: Database) -> None:
    office = clients("office")
    created = office.post("/api/v1/units", json={"id": "ps-sanhe", "name": "三和派出所"})
    assert created.status_code == 201, created.text
    assert created.json() == {"id": "ps-sanhe", "name": "三和派出所", "name_en": "", "kind": "station", "active": True,
                              "sort_order": len(UNITS), "webhook_url": None}
    placed = office.post("/api/v1/units", json={"id": "ps-2-east", "name": "东二派出所", "name_en": "East 2",
                                                "sort_order": 0, "active": False})
    assert placed.status_code == 201 and placed.json()["sort_order"] == 0 and placed.json()["active"] is False
    before, audited = units(db), audit_count(db, "unit")
    for bad in ("sanhe", "PS-SANHE", "ps-sanhe", "ps-", ""):
        refused = office.post("/api/v1/units", json={"id": bad, "name": "某派出所"})
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in refused.json()["errors"]] == ["id"], bad
    duplicate = office.post("/api/v1/units", json={"id": "ps-sanhe", "name": "又一个三和派出所"})
    assert duplicate.status_code == 422 and duplicate.json()["errors"][0]["message"] == "已有使用此编号的单位。"
    assert office.post("/api/v1/units", json={"id": "ps-x", "name": "y", "kind": "department"}).status_code == 400
    assert office.post("/api/v1/units", json={"id": "ps-x"}).status_code == 400
    assert units(db).keys() == before.keys() and audit_count(db, "unit") == audited


# --- units: rename, reorder, deactivate -----------------------------------------------------------------------

def test_the_office_renames_and_reorders_units_through_the_page_and_the_api(clients: Any, db: Database) -> None:
    office = clients("office")
    office.get("/admin/units")
    renamed = form_post(office, "/admin/units/ps-haifu", {"name": "海复镇派出所", "name_en": "Haifu Town Police Station"})
    assert renamed.status_code == 303
    assert (units(db)["ps-haifu"].name, units(db)["ps-haifu"].name_en) == ("海复镇派出所", "Haifu Town Police Station")
    refused = form_post(office, "/admin/units/ps-haifu", {"name": "南阳派出所"})
    assert refused.status_code == 422 and "已有同名的单位" in card(refused.text, "ps-haifu")
    assert form_post(office, "/admin/units/ps-haifu", {"name": " "}).status_code == 422
    assert units(db)["ps-haifu"].name == "海复镇派出所"

    order = [unit_id for unit_id, _, _ in UNITS]
    assert form_post(office, "/admin/units/traffic", {"move": "up"}).status_code == 303
    order[3], order[4] = order[4], order[3]
    assert unit_ids_on_page(office.get("/admin/units").text) == order
    assert form_post(office, "/admin/units/command-center", {"move": "down"}).status_code == 303
    order[0], order[1] = order[1], order[0]
    assert unit_ids_on_page(office.get("/admin/units").text) == order
    # The first cannot go further up, nor the last further down: nothing moves.
    assert form_post(office, "/admin/units/" + order[0], {"move": "up"}).status_code == 303
    assert form_post(office, "/admin/units/" + order[-1], {"move": "down"}).status_code == 303
    assert unit_ids_on_page(office.get("/admin/units").text) == order
    # The API sets a place in the order directly; the page's moves keep to it.
    answer = office.patch("/api/v1/units/ps-nanyang", json={"sort_order": 0, "name_en": "Nanyang Station", "id": "ps-nanyang"})
    assert answer.status_code == 200 and answer.json()["sort_order"] == 0 and answer.json()["name_en"] == "Nanyang Station"
    assert [u["id"] for u in office.get("/api/v1/units").json()["items"]][0] == "ps-nanyang"
    assert office.patch("/api/v1/units/ps-nanyang", json={"id": "ps-other"}).status_code == 422
    assert office.patch("/api/v1/units/ps-nanyang", json={"sort_order": -1}).status_code == 400
    assert office.patch("/api/v1/units/ps-nowhere", json={"name": "无"}).status_code == 404
    assert form_post(office, "/admin/units/ps-nowhere", {"move": "up"}).status_code == 404


def test_a_unit_with_open_cases_dispatched_to_it_is_not_deactivated(clients: Any, db: Database, world: dict[str, Any]) -> None:
    office = clients("office")
    office.get("/admin/units")
    audited = audit_count(db, "unit")
    # Shanghai's case is dispatched to criminal investigation and still open.
    refused = form_post(office, "/admin/units/criminal-investigation", {"active": "false"})
    assert refused.status_code == 409
    assert OPEN_CASES in card(refused.text, "criminal-investigation")
    answer = office.patch("/api/v1/units/criminal-investigation", json={"active": False})
    assert answer.status_code == 409 and OPEN_CASES in answer.json()["detail"]
    assert units(db)["criminal-investigation"].active is True and audit_count(db, "unit") == audited

    # A unit nothing waits on is deactivated: no one dispatches to it any more, and it comes back when reactivated.
    assert form_post(office, "/admin/units/traffic", {"active": "false"}).status_code == 303
    assert units(db)["traffic"].active is False
    assert "已停用" in card(office.get("/admin/units").text, "traffic")
    case_id = world["cases"]["sz"]
    office.post(f"/api/v1/cases/{case_id}/events", json={"kind": "accepted"})
    dispatched = office.post(f"/api/v1/cases/{case_id}/events", json={"kind": "dispatched", "unit": "traffic"})
    assert dispatched.status_code == 422, dispatched.text
    assert form_post(office, "/admin/units/traffic", {"active": "true"}).status_code == 303
    assert office.post(f"/api/v1/cases/{case_id}/events", json={"kind": "dispatched", "unit": "traffic"}).status_code == 201

    # Once the unit has returned its case, it may go.
    liaison = clients("liaison_xz")
    sh_case = world["cases"]["sh"]
    back = liaison.post(f"/api/v1/cases/{sh_case}/events", json={"kind": "returned", "note": "不属本单位管辖"})
    assert back.status_code == 201, back.text
    assert office.patch("/api/v1/units/criminal-investigation", json={"active": False}).status_code == 200


# --- only the office, only at the hub -------------------------------------------------------------------------

def test_other_roles_are_refused_the_pages_and_the_writes(clients: Any, db: Database) -> None:
    before, audited = units(db), audit_count(db, "unit")
    for username in ("leader", "liaison_xz", "subcenter_sh", "workstation_1"):
        person = clients(username)
        if username == "leader":  # the leader works in the office: the pages are theirs too
            assert person.get("/admin/units").status_code == 200 and person.get("/admin/nodes").status_code == 200
            continue
        for path in ("/admin/units", "/admin/nodes"):
            page = person.get(path)
            assert page.status_code == 403, (username, path)
            assert "只有中心办公室" in page.text or "联服中心办公室" in page.text, (username, path)
        assert ">单位管理<" not in person.get("/").text
        assert form_post(person, "/admin/units", {"id": "ps-sneaky", "name": "偷加派出所"}).status_code == 403
        assert form_post(person, "/admin/units/traffic", {"active": "false"}).status_code == 403
        assert form_post(person, "/admin/units/traffic", {"move": "up"}).status_code == 403
        assert person.post("/api/v1/units", json={"id": "ps-sneaky", "name": "偷加派出所"}).status_code == 403
        assert person.patch("/api/v1/units/traffic", json={"name": "交通"}).status_code == 403
    stranger = clients()
    assert stranger.get("/admin/units", follow_redirects=False).status_code in (302, 303, 401)
    assert stranger.post("/api/v1/units", json={"id": "ps-sneaky", "name": "偷加派出所"}).status_code in (401, 403)
    assert shape(units(db)) == shape(before)
    assert audit_count(db, "unit") == audited


def test_a_spoke_refuses_the_unit_and_node_pages_and_writes_but_lists_units(
        settings: Any, db: Database, world: dict[str, Any], tmp_path: Path) -> None:
    import time

    from litestar.testing import TestClient

    from spoke.app import create_app as create_spoke_app
    from tests.conftest import CSRF_RE
    from tests.sync_support import Federation

    fed = Federation(settings, db, tmp_path / "spokes")
    try:
        sh = fed.enroll("sc-shanghai")
        assert sh.sync().ok
        app = create_spoke_app(sh.settings.with_overrides(cookie_secure=False))
        app.state.hub_link = sh.link
        with TestClient(app, base_url="http://sc-shanghai.test") as browser:
            sh.link._down_until = time.monotonic() + 60  # noqa: SLF001 - log in offline, at the spoke itself
            csrf = CSRF_RE.search(browser.get("/login").text).group(1)  # type: ignore[union-attr]
            browser.post("/login", data={"username": "subcenter_sh", "password": "lianfu-demo", "csrf_token": csrf,
                                         "next": "/"})
            home = browser.get("/")
            assert home.status_code == 200 and "/admin/units" not in home.text and "/admin/nodes" not in home.text
            csrf = CSRF_RE.search(home.text).group(1)  # type: ignore[union-attr]
            headers = {"X-CSRF-Token": csrf}
            for path in ("/admin/units", "/admin/nodes"):
                page = browser.get(path)
                assert page.status_code == 403 and "由中心办公室在中心节点" in page.text, path
            added = browser.post("/admin/units", data={"id": "ps-spoke", "name": "分中心派出所", "csrf_token": csrf})
            assert added.status_code == 403 and "警种部门与派出所由中心办公室在中心节点管理。" in added.text
            assert browser.post("/admin/units/traffic", data={"active": "false", "csrf_token": csrf}).status_code == 403
            api = browser.post("/api/v1/units", json={"id": "ps-spoke", "name": "分中心派出所"}, headers=headers)
            assert api.status_code == 403 and "中心节点" in api.json()["detail"]
            assert browser.patch("/api/v1/units/traffic", json={"name": "交通"}, headers=headers).status_code == 403
            # What every node answers still works on the path the refusals share.
            listed = browser.get("/api/v1/units")
            assert listed.status_code == 200 and [u["id"] for u in listed.json()["items"]] == [u[0] for u in UNITS]
        with sh.db.reads() as session:
            assert session.get(Unit, "ps-spoke") is None and session.get(Unit, "traffic").name == "交警大队"
    finally:
        fed.close()


# --- nodes ----------------------------------------------------------------------------------------------------

def node_row(page: str, node_id: str) -> str:
    start = page.index(f'data-node="{node_id}"')
    return page[start:page.index("</tr>", start)]


def rows_on_page(page: str) -> list[str]:
    return re.findall(r'<tr class="node-row[^"]*" data-node="([a-z0-9-]+)"', page)


def test_the_nodes_page_shows_the_tree_with_names_heads_statuses_and_last_sync(
        clients: Any, db: Database, world: dict[str, Any]) -> None:
    office = clients("office")
    # A workstation approved through the review has the head its application named.
    approved = office.post(f"/api/v1/applications/{world['applications']['sh']}/decision", json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    new_ws = approved.json()["node"]
    with db.transaction() as session:
        session.add(SyncPeer(node_id="sc-shanghai", last_success_at=datetime(2026, 11, 30, 2, 5, tzinfo=UTC), queued=7))
        session.add(SyncPeer(node_id="sc-suzhou", last_success_at=datetime(2026, 11, 29, 1, 0, tzinfo=UTC),
                             last_error="hub unreachable: timed out", last_error_at=datetime(2026, 11, 30, 16, 30, tzinfo=UTC)))
        head = User(username="ws_head", display_name="周站长", role="enterprise", node_id="ws-demo-1", password_hash="x")
        session.add(head)
        session.flush()
        session.get(Node, "ws-demo-1").head_user_id = head.id
    suspended = office.patch("/api/v1/nodes/sc-suzhou", json={"status": "suspended"})
    assert suspended.status_code == 200

    page = office.get("/admin/nodes")
    assert page.status_code == 200
    # Tree order: the hub, each sub-center followed by its workstations.
    assert rows_on_page(page.text) == ["hub", "sc-shanghai", new_ws, "ws-demo-1", "sc-suzhou"] or \
        rows_on_page(page.text) == ["hub", "sc-shanghai", "ws-demo-1", new_ws, "sc-suzhou"]
    text = visible_text(page.text)
    # Names, never ids.
    for node_id in ("sc-shanghai", "sc-suzhou", "ws-demo-1", new_ws):
        assert node_id not in text, node_id
    sh = visible_text(node_row(page.text, "sc-shanghai"))
    assert "上海分中心" in sh and "分中心" in sh and "上海市" in sh and "运行中" in sh
    assert "2026-11-30 10:05" in sh and "待上传变更: 7" in sh.replace("：", ":")  # Beijing time
    assert "最近错误" not in sh
    sz = visible_text(node_row(page.text, "sc-suzhou"))
    assert "已暂停" in sz and "hub unreachable: timed out" in sz and "2026-12-01 00:30" in sz and "2026-11-29 09:00" in sz
    ws = visible_text(node_row(page.text, "ws-demo-1"))
    assert "启东建工集团上海工作站" in ws and "周站长" in ws and "上海分中心" in ws and "从未同步" in ws
    approved_row = visible_text(node_row(page.text, new_ws))
    assert "启东海工上海工作站" in approved_row and "李站长" in approved_row
    assert "联服中心办公室" in visible_text(node_row(page.text, "hub"))
    # What each node may be asked for, by its status; the hub none.
    assert 'kind=suspend&amp;target_node=sc-shanghai' in node_row(page.text, "sc-shanghai")
    assert 'kind=reinstate&amp;target_node=sc-suzhou' in node_row(page.text, "sc-suzhou")
    assert 'kind=suspend&amp;target_node=sc-suzhou' not in node_row(page.text, "sc-suzhou")
    assert "/applications/new" not in node_row(page.text, "hub")

    # Filters: kind, status, region (a province takes in its districts).
    assert rows_on_page(office.get("/admin/nodes", params={"kind": "workstation"}).text) in (
        [new_ws, "ws-demo-1"], ["ws-demo-1", new_ws])
    assert rows_on_page(office.get("/admin/nodes", params={"status": "suspended"}).text) == ["sc-suzhou"]
    shanghai = rows_on_page(office.get("/admin/nodes", params={"region": "310000"}).text)
    assert set(shanghai) == {"sc-shanghai", "ws-demo-1", new_ws}
    assert rows_on_page(office.get("/admin/nodes", params={"region": "320500"}).text) == ["sc-suzhou"]
    empty = office.get("/admin/nodes", params={"kind": "hub", "status": "retired"})
    assert rows_on_page(empty.text) == [] and "没有符合筛选条件的节点" in empty.text


def test_a_suspension_asked_for_on_the_nodes_page_goes_through_the_review(clients: Any, db: Database) -> None:
    office = clients("office")
    page = office.get("/admin/nodes")
    link = re.search(r'href="(/applications/new\?kind=suspend&amp;target_node=sc-suzhou)"', node_row(page.text, "sc-suzhou"))
    assert link, node_row(page.text, "sc-suzhou")
    assert "申请暂停" in node_row(page.text, "sc-suzhou")
    form = office.get(html.unescape(link.group(1)))
    assert form.status_code == 200
    assert re.search(r'<option value="suspend" selected>', form.text)
    assert re.search(r'<option value="sc-suzhou" selected>苏州分中心', form.text)

    submitted = office.post("/applications/new", data={"kind": "suspend", "target_node": "sc-suzhou",
                                                       "reason": "长期未开展工作，暂停整改", "csrf_token": office.csrf},
                            follow_redirects=False)
    assert submitted.status_code == 303, submitted.text
    application_id = submitted.headers["location"].rsplit("/", 1)[1]
    with db.reads() as session:
        assert session.get(Node, "sc-suzhou").status == "active"  # nothing happens before the review decides
        application = session.get(NodeApplication, uuid.UUID(application_id))
        assert (application.kind, application.created_node, application.status) == ("suspend", "sc-suzhou", "submitted")
    waiting = node_row(office.get("/admin/nodes").text, "sc-suzhou")
    assert f'href="/applications/{application_id}"' in waiting and "审核中" in visible_text(waiting)
    assert "/applications/new" not in waiting  # one request at a time

    decided = office.post(f"/applications/{application_id}/decision",
                          data={"decision": "approve", "comment": "同意", "csrf_token": office.csrf}, follow_redirects=False)
    assert decided.status_code == 303, decided.text
    with db.reads() as session:
        assert session.get(Node, "sc-suzhou").status == "suspended"
        assert session.get(NodeApplication, uuid.UUID(application_id)).status == "approved"
    after = node_row(office.get("/admin/nodes").text, "sc-suzhou")
    assert "已暂停" in visible_text(after) and "kind=reinstate&amp;target_node=sc-suzhou" in after
    # The suspension bites: the sub-center's people are refused at the login.
    stranger = clients()
    refused = stranger.post("/login", data={"username": "subcenter_sz", "password": "lianfu-demo",
                                            "csrf_token": stranger.csrf, "next": "/"}, follow_redirects=False)
    assert refused.status_code == 403 and "您所在的节点已暂停使用" in refused.text


def test_the_units_the_office_keeps_reach_the_spokes_with_their_directory(
        clients: Any, settings: Any, db: Database, tmp_path: Path) -> None:
    from sync.client import SpokeSync
    from tests.sync_support import Federation

    office = clients("office")
    assert office.post("/api/v1/units", json={"id": "ps-binhai", "name": "滨海派出所"}).status_code == 201
    fed = Federation(settings, db, tmp_path / "spokes")
    try:
        sh = fed.enroll("sc-shanghai")  # enrollment takes the directory a first time
        with sh.db.reads() as session:
            assert session.get(Unit, "ps-binhai").name == "滨海派出所"
        assert office.patch("/api/v1/units/traffic", json={"name": "交通警察大队", "active": False}).status_code == 200
        assert SpokeSync(sh.db, sh.link, sh.settings.data_dir, sh.node, directory_refresh=0).round().ok
        with sh.db.reads() as session:
            traffic = session.get(Unit, "traffic")
            assert (traffic.name, traffic.active) == ("交通警察大队", False)
            hub_order = [u["id"] for u in office.get("/api/v1/units", params={"include_inactive": "true"}).json()["items"]]
            assert list(session.scalars(select(Unit.id).order_by(Unit.sort_order, Unit.id))) == hub_order
    finally:
        fed.close()


def test_a_bearer_token_lists_the_units_with_the_nodes_scope(clients: Any, db: Database) -> None:
    from tests.identity.test_oidc_tokens import bearer, person_tokens

    token, _, _ = person_tokens(clients, db, "liaison_xz", scope="openid nodes:read")
    api = clients()
    listed = api.get("/api/v1/units", headers=bearer(token["access_token"]))
    assert listed.status_code == 200 and listed.json()["items"][0]["id"] == "command-center"
    refused = api.post("/api/v1/units", json={"id": "ps-token", "name": "令牌派出所"}, headers=bearer(token["access_token"]))
    assert refused.status_code == 403 and units(db).get("ps-token") is None
