"""The office reads the audit trail: each filter narrows the entries, pages hold every entry once, personal data stays
masked, other roles and the spokes are refused, and each record's page links its own history."""
from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from common.audit import trail as audit
from common.audit.viewer import parse_filters
from common.db import Database
from common.errors import InvalidField
from common.models import AuditEntry

CST = ZoneInfo("Asia/Shanghai")


def _all(client: Any, **params: Any) -> list[dict[str, Any]]:
    """Every entry the filters select, page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/audit", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def _changes(clients: Any, world: dict[str, Any]) -> dict[str, Any]:
    """A few changes by different people through the API."""
    office, head = clients("office"), clients("subcenter_sh")
    enterprise = world["enterprises"]["sh"]
    assert office.patch(f"/api/v1/enterprises/{enterprise}", json={"address": "浦东新区测试路9号"}).status_code == 200
    made = head.post("/api/v1/cases", json={"enterprise_id": str(enterprise), "channel": "platform",
                                            "category": "economic_dispute", "title": "审计查看测试工单"})
    assert made.status_code == 201, made.text
    case_id = made.json()["id"]
    assert office.post(f"/api/v1/cases/{case_id}/events", json={"kind": "accepted"}).status_code in (200, 201)
    return {"enterprise": str(enterprise), "case": case_id}


def test_each_filter_narrows_the_entries(clients: Any, world: dict[str, Any], db: Database) -> None:
    made = _changes(clients, world)
    with db.transaction() as session:
        # An entry of the Shanghai sub-center's own chain, as its sync brings it to the hub.
        audit.record(session, "sc-shanghai", "login.offline", actor="subcenter_sh",
                     actor_id=world["users"]["subcenter_sh"], entity_type="user",
                     entity_id=world["users"]["subcenter_sh"])
    office = clients("office")
    everything = _all(office)
    with db.reads() as session:
        assert len(everything) == session.scalar(select(func.count()).select_from(AuditEntry))

    by_head = _all(office, actor="subcenter_sh")
    assert by_head and {e["actor"]["username"] for e in by_head} == {"subcenter_sh"}
    assert {"create", "login.offline"} <= {e["action"] for e in by_head}
    assert by_head[0]["actor"]["name"] and by_head[0]["actor"]["id"] == str(world["users"]["subcenter_sh"])
    # The actor's id finds the same entries as the user name.
    assert {e["id"] for e in _all(office, actor=str(world["users"]["subcenter_sh"]))} == {e["id"] for e in by_head}

    accepted = _all(office, action="case.accepted")
    assert accepted and {e["action"] for e in accepted} == {"case.accepted"}
    assert made["case"] in {e["entity_id"] for e in accepted}

    of_case = _all(office, entity_id=made["case"])
    assert [e["action"] for e in of_case] == ["case.accepted", "create"]  # newest first
    assert {e["entity_type"] for e in of_case} == {"case"}
    assert _all(office, entity_id=made["case"].upper()) == of_case  # any spelling of the id

    enterprises = _all(office, entity="enterprise")
    assert enterprises and {e["entity_type"] for e in enterprises} == {"enterprise"}
    changed = [e for e in enterprises if e["entity_id"] == made["enterprise"] and e["action"] == "update"]
    assert changed[0]["detail"]["changed"]["address"][1] == "浦东新区测试路9号"

    at_shanghai = _all(office, node="sc-shanghai")
    assert [e["action"] for e in at_shanghai] == ["login.offline"]
    assert {e["node"] for e in _all(office, node="hub")} == {"hub"}
    assert len(_all(office, node="hub")) == len(everything) - 1

    # Dates: today (Beijing) holds the new entries, yesterday none of them, tomorrow nothing at all.
    today = datetime.now(CST).date()
    since_today = {e["id"] for e in _all(office, since=today.isoformat(), until=today.isoformat())}
    assert {e["id"] for e in of_case} <= since_today
    assert not {e["id"] for e in of_case} & {e["id"] for e in _all(office, until=(today - timedelta(days=1)).isoformat())}
    assert _all(office, since=(today + timedelta(days=1)).isoformat()) == []
    # A moment to the microsecond, as both ends, selects that entry alone.
    first = of_case[-1]
    assert [e["id"] for e in _all(office, since=first["at"], until=first["at"])] == [first["id"]]
    # Filters combine.
    assert [e["action"] for e in _all(office, actor="office", entity_id=made["case"])] == ["case.accepted"]


def test_a_bare_date_is_a_day_of_beijing_time() -> None:
    filters = parse_filters({"since": "2026-12-01", "until": "2026-12-01"})
    assert filters.since == datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc)
    assert filters.until == datetime(2026, 12, 1, 16, 0, tzinfo=timezone.utc)
    assert parse_filters({"since": "2026-12-01T08:30"}).since == datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc)
    assert parse_filters({"since": "2026-12-01T08:30:00Z"}).since == datetime(2026, 12, 1, 8, 30, tzinfo=timezone.utc)
    with pytest.raises(InvalidField) as refused:
        parse_filters({"since": "yesterday", "until": "2026-02-30"})
    assert {p.field for p in refused.value.problems} == {"since", "until"}


def test_pages_hold_every_entry_exactly_once_newest_first(clients: Any, world: dict[str, Any], db: Database) -> None:
    _changes(clients, world)
    office = clients("office")
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        body = office.get("/api/v1/audit", params={"limit": 7, **({"cursor": cursor} if cursor else {})}).json()
        assert len(body["items"]) <= 7 and body["limit"] == 7
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    with db.reads() as session:
        stored = {str(i) for i in session.scalars(select(AuditEntry.id))}
    ids = [e["id"] for e in seen]
    assert pages > 2 and len(ids) == len(set(ids)) and set(ids) == stored
    moments = [datetime.fromisoformat(e["at"]) for e in seen]
    assert moments == sorted(moments, reverse=True)
    assert office.get("/api/v1/audit").json()["limit"] == 50


def test_personal_data_in_the_details_is_masked(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    application = world["applications"]["sh"]
    note = "请联系李站长 13912345678，身份证 320681198001019012 已核对"
    done = office.post(f"/applications/{application}/comment", data={"comment": note, "csrf_token": office.csrf})
    assert done.status_code in (200, 303), done.text
    entries = _all(office, entity_id=str(application), action="application.comment")
    assert len(entries) == 1
    shown = entries[0]["detail"]["comment"]
    assert "13912345678" not in shown and "139****5678" in shown
    assert "320681198001019012" not in shown and "320681********9012" in shown
    page = office.get(f"/audit?entity_id={application}")
    assert "13912345678" not in page.text and "139****5678" in page.text


def test_bad_filters_answer_400_naming_the_field(clients: Any) -> None:
    office = clients("office")
    for params, field in [({"since": "2026-13-01"}, "since"), ({"until": "next week"}, "until"),
                          ({"since": "2026-12-02", "until": "2026-12-01"}, "until"), ({"cursor": "not-a-cursor"}, "cursor"),
                          ({"action": "x" * 41}, "action"), ({"until": "9999-12-31"}, "until"),
                          ({"since": "0001-01-01T00:00:00"}, "since"), ({"cursor": "WzEsMl0"}, "cursor")]:
        response = office.get("/api/v1/audit", params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == [field]
    assert office.get("/api/v1/audit", params={"limit": 201}).status_code == 400
    assert office.get("/api/v1/audit", params={"limit": 0}).status_code == 400
    page = office.get("/audit?since=2026-13-01")
    assert page.status_code == 400 and "不是有效的日期或时间" in page.text and 'id="e-since"' in page.text


def test_only_the_office_reads_the_trail(clients: Any) -> None:
    for username in ("liaison_xz", "subcenter_sh", "workstation_1"):
        person = clients(username)
        assert person.get("/api/v1/audit").status_code == 403, username
        page = person.get("/audit", headers={"Accept": "text/html"})
        assert page.status_code == 403, username
        assert 'href="/audit"' not in person.get("/cases", headers={"Accept": "text/html"}).text
    leader = clients("leader")
    assert leader.get("/api/v1/audit").status_code == 200
    assert clients().get("/api/v1/audit").status_code == 401


def test_the_page_shows_labels_names_links_and_more(clients: Any, world: dict[str, Any], db: Database) -> None:
    with db.transaction() as session:
        for _ in range(60):  # more than a page
            audit.record(session, "hub", "login.ok", actor="liaison_xz", actor_id=world["users"]["liaison_xz"],
                         entity_type="user", entity_id=world["users"]["liaison_xz"])
    made = _changes(clients, world)
    office = clients("office")
    page = office.get("/audit")
    assert page.status_code == 200
    assert 'href="/admin" aria-current="page"' in page.text  # the office's menu: 管理 leads here
    assert "审计记录" in page.text and "修改" in page.text and "工单受理" in page.text
    assert f'href="/enterprises/{made["enterprise"]}"' in page.text and f'href="/cases/{made["case"]}"' in page.text
    assert 'data-label="操作人"' in page.text and "list-cards" in page.text
    more = re.search(r'id="audit-more" href="([^"]+)"', page.text)
    assert more is not None
    fragment = office.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and 'class="audit-entry"' in fragment.text
    first_page = set(re.findall(r'data-entry="([0-9a-f-]+)"', page.text))
    assert first_page and not first_page & set(re.findall(r'data-entry="([0-9a-f-]+)"', fragment.text))
    # An action no table names yet is shown as it is spelt.
    unknown = office.get("/audit?action=custom.thing")
    assert "没有符合条件的审计记录" in unknown.text and 'value="custom.thing" selected' in unknown.text


@pytest.mark.parametrize("kind", ["enterprise", "case", "visit", "bulletin", "application"])
def test_each_records_page_links_its_own_history(clients: Any, world: dict[str, Any], kind: str) -> None:
    record = {"enterprise": world["enterprises"]["sh"], "case": world["cases"]["sh"], "visit": world["visits"]["sh"],
              "bulletin": world["bulletins"]["all"], "application": world["applications"]["sh"]}[kind]
    path = {"enterprise": "enterprises", "case": "cases", "visit": "visits", "bulletin": "bulletins",
            "application": "applications"}[kind]
    office = clients("office")
    detail = office.get(f"/{path}/{record}")
    assert detail.status_code == 200
    link = f'href="/audit?entity_id={record}"'
    assert link in detail.text and "变更记录" in detail.text
    history = office.get(f"/audit?entity_id={record}")
    shown = re.findall(r'data-entry="([0-9a-f-]+)"', history.text)
    entries = _all(office, entity_id=str(record))
    assert shown and shown == [e["id"] for e in entries][:50]
    assert {e["entity_id"] for e in entries} == {str(record)} and {e["entity_type"] for e in entries} == {kind}
    # Not offered to who may not read the trail.
    other = clients("subcenter_sh")
    page = other.get(f"/{path}/{record}")
    assert page.status_code == 200 and link not in page.text


def test_a_spoke_refuses_the_trail_and_offers_no_link_to_it(settings: Any, db: Any, world: dict[str, Any],
                                                             tmp_path: Path) -> None:
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
            page = browser.get("/audit", headers={"Accept": "text/html"})
            assert page.status_code == 403 and "审计记录由中心办公室在中心节点查阅。" in page.text
            api = browser.get("/api/v1/audit", params={"entity_id": str(uuid.uuid4())})
            assert api.status_code == 403 and "中心节点" in api.json()["detail"]
            enterprise = browser.get(f"/enterprises/{world['enterprises']['sh']}")
            assert enterprise.status_code == 200 and "/audit?entity_id=" not in enterprise.text
    finally:
        fed.close()
