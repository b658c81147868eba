"""The JSON API from outside: CRUD, paging, search, problem details, CSRF and the case timeline."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from common.db import Database
from common.models import CaseEvent, Enterprise
from common.validation import make_credit_code, make_id_number

PROBLEM = "application/problem+json"


def _count(db: Database, model: Any) -> int:
    with db.reads() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_enterprise_crud_round_trip(clients: Any, db: Database) -> None:
    sub = clients("subcenter_sh")
    code = make_credit_code("9", "1", "310115", "A1B2C3D4")
    created = sub.post("/api/v1/enterprises", json={
        "name": "启东华顺建设工程有限公司浦东分公司", "credit_code": code.lower(), "region_code": "310115",
        "address": "浦东新区张江路1号", "industry": "construction", "parent_company": "启东华顺集团"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["credit_code"] == code and body["node"] == "sc-shanghai" and body["is_key"] is False
    eid = body["id"]
    assert sub.get(f"/api/v1/enterprises/{eid}").json()["name"].startswith("启东华顺")
    changed = sub.patch(f"/api/v1/enterprises/{eid}", json={"address": "浦东新区科苑路2号"})
    assert changed.status_code == 200 and changed.json()["address"] == "浦东新区科苑路2号"
    # Whether an enterprise is a key one and its risk level are the police's to say.
    assert clients("office").patch(f"/api/v1/enterprises/{eid}", json={"risk_level": "high", "is_key": True}).status_code == 200
    # Deleting an enterprise is the office's decision.
    assert sub.delete(f"/api/v1/enterprises/{eid}").status_code == 403
    office = clients("office")
    assert office.delete(f"/api/v1/enterprises/{eid}").status_code == 204
    assert office.get(f"/api/v1/enterprises/{eid}").status_code == 404
    # The credit code is free again once the old row is gone.
    again = sub.post("/api/v1/enterprises", json={"name": "启东华顺（重新登记）", "credit_code": code, "region_code": "310115"})
    assert again.status_code == 201


def test_paging_search_and_filters(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    first = office.get("/api/v1/enterprises", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    rest = office.get("/api/v1/enterprises", params={"limit": 2, "offset": 2}).json()
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in rest["items"]})
    assert rest["next_offset"] is None
    found = office.get("/api/v1/enterprises", params={"q": "测试sz"}).json()["items"]
    assert [i["id"] for i in found] == [str(world["enterprises"]["sz"])]
    code = found[0]["credit_code"]
    assert [i["id"] for i in office.get("/api/v1/enterprises", params={"q": code[:12]}).json()["items"]] == [found[0]["id"]]
    # Pinyin initials: 启东测试 → qdcs
    assert len(office.get("/api/v1/enterprises", params={"q": "qdcs"}).json()["items"]) == 4
    by_node = office.get("/api/v1/enterprises", params={"node": "sc-suzhou"}).json()["items"]
    assert [i["node"] for i in by_node] == ["sc-suzhou"]
    assert office.get("/api/v1/enterprises", params={"region_code": "310000"}).json()["items"]
    assert office.get("/api/v1/enterprises", params={"limit": 0}).status_code == 400
    assert office.get("/api/v1/enterprises", params={"limit": 500}).status_code == 400


def test_validation_errors_are_problem_details_with_fields_and_write_nothing(clients: Any, db: Database) -> None:
    office = clients("office")
    before = _count(db, Enterprise)
    good = make_credit_code("9", "1", "320681", "12345678")
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    response = office.post("/api/v1/enterprises", json={"name": "启东某公司", "credit_code": wrong_check,
                                                          "region_code": "320681", "contact_phone": "12345"})
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == 422 and problem["title"]
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"credit_code", "contact_phone"}
    assert _count(db, Enterprise) == before
    malformed = office.post("/api/v1/enterprises", content=b'{"name": ', headers={"content-type": "application/json"})
    assert malformed.status_code == 400 and malformed.headers["content-type"].startswith(PROBLEM)
    unknown = office.post("/api/v1/enterprises", json={"name": "x", "credit_code": good, "region_code": "320681", "owner": "me"})
    assert unknown.status_code == 400 and unknown.json()["errors"]
    assert _count(db, Enterprise) == before


def test_duplicate_credit_code_is_refused(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    existing = office.get(f"/api/v1/enterprises/{world['enterprises']['sh']}").json()
    response = office.post("/api/v1/enterprises", json={"name": "重复登记", "credit_code": existing["credit_code"],
                                                          "region_code": "310115"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "credit_code"


def test_people_validation_and_masking_on_write(clients: Any, world: dict[str, Any]) -> None:
    sub = clients("subcenter_sh")
    enterprise = str(world["enterprises"]["sh"])
    bad = sub.post("/api/v1/people", json={"enterprise_id": enterprise, "name": "王五", "id_number": "320681198013450012",
                                            "phone": "1381234"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"id_number", "phone"}
    number = make_id_number("320681", __import__("datetime").date(1990, 5, 17), 911)
    made = sub.post("/api/v1/people", json={"enterprise_id": enterprise, "name": "王五", "id_number": number,
                                             "phone": "+86 139-1234-5678", "position": "安全员"})
    assert made.status_code == 201
    assert made.json()["id_number"] == number[:6] + "*" * 8 + number[-4:]
    assert made.json()["phone"] == "139****5678"  # stored as the number alone, shown masked as to everyone
    office = clients("office")
    assert office.get(f"/api/v1/people/{made.json()['id']}").json()["id_number"] == made.json()["id_number"]
    shown = office.post(f"/api/v1/people/{made.json()['id']}/reveal", json={"reason": "核对身份"}).json()
    assert (shown["id_number"], shown["phone"]) == (number, "13912345678")


def test_unsafe_cookie_calls_need_the_csrf_token(clients: Any, db: Database) -> None:
    office = clients("office")
    token = office.http.headers.pop("X-CSRF-Token")
    before = _count(db, Enterprise)
    body = {"name": "跨站请求", "credit_code": make_credit_code("9", "1", "320681", "99999999"), "region_code": "320681"}
    refused = office.post("/api/v1/enterprises", json=body)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith(PROBLEM)
    forged = office.post("/api/v1/enterprises", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert forged.status_code == 403
    assert _count(db, Enterprise) == before
    assert office.post("/api/v1/enterprises", json=body, headers={"X-CSRF-Token": token}).status_code == 201


def test_login_form_refuses_a_missing_csrf_token(clients: Any) -> None:
    anonymous = clients()
    response = anonymous.post("/login", data={"username": "office", "password": "lianfu-demo"})
    assert response.status_code == 403
    assert "表单已过期" in response.text


def test_session_cookie_flags(clients: Any) -> None:
    client = clients()
    client.fetch_csrf()
    response = client.post("/login", data={"username": "office", "password": "lianfu-demo", "csrf_token": client.csrf},
                           follow_redirects=False)
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "lianfu_hub_session=" in v)
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    wrong = clients()
    wrong.fetch_csrf()
    refused = wrong.post("/login", data={"username": "office", "password": "nope-nope-1", "csrf_token": wrong.csrf})
    unknown = wrong.post("/login", data={"username": "nobody", "password": "nope-nope-1", "csrf_token": wrong.csrf})
    # The same answer for a wrong password and an unknown account.
    assert refused.status_code == unknown.status_code == 400
    assert "用户名或密码错误" in refused.text and "用户名或密码错误" in unknown.text


def test_logout_ends_the_session(clients: Any) -> None:
    office = clients("office")
    assert office.get("/api/v1/cases").status_code == 200
    office.post("/logout", data={"csrf_token": office.csrf})
    assert office.get("/api/v1/cases").status_code == 401


def test_case_handling_through_the_api(clients: Any, db: Database, world: dict[str, Any]) -> None:
    ws = clients("workstation_1")
    created = ws.post("/api/v1/cases", json={"enterprise_id": str(world["enterprises"]["ws"]), "channel": "platform",
                                             "category": "economic_dispute", "urgency": "urgent", "title": "劳务费拖欠",
                                             "details": {"dispute_kind": "labour", "amount": 120000}})
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["status"] == "submitted" and case["number"].startswith("HUB-")  # numbered by the node recording it
    cid = case["id"]
    office, leader = clients("office"), clients("leader")
    xz, jz = clients("liaison_xz"), clients("liaison_jz")

    def post(client: Any, kind: str, **extra: Any) -> Any:
        return client.post(f"/api/v1/cases/{cid}/events", json={"kind": kind, **extra})

    assert post(office, "filed").status_code == 409  # nothing to file yet
    assert post(xz, "signed").status_code in (403, 404)  # not dispatched to the unit: not its case
    assert post(office, "accepted").status_code == 201
    assert post(office, "dispatched", unit="no-such-unit").status_code == 422
    assert post(office, "dispatched", unit="economic-crime").json()["case_status"] == "dispatched"
    assert post(office, "dispatched", unit="criminal-investigation").status_code == 201
    assert post(office, "dispatched", unit="economic-crime").status_code == 409  # once per unit
    assert post(jz, "signed").json()["case_status"] == "handling"
    assert post(jz, "reported").status_code == 422  # the report needs its note
    assert post(jz, "reported", note="已约谈双方，达成分期还款协议").status_code == 201
    assert post(office, "filed").status_code == 409  # criminal investigation has not reported
    assert post(office, "escalated").status_code == 201
    assert post(office, "jwg_requested").status_code == 201
    assert post(office, "jwg_approved").status_code == 403  # only a leader
    assert post(leader, "jwg_approved").status_code == 201
    assert post(ws, "signed").status_code == 403
    assert post(xz, "signed").status_code == 201
    assert post(xz, "reported", note="已核查，无刑事案件线索").json()["case_status"] == "reported"
    assert post(office, "filed").json()["case_status"] == "filed"
    assert post(ws, "callback", satisfaction=9).status_code == 422
    assert post(ws, "callback", satisfaction=2).json()["case_status"] == "closed"
    assert post(ws, "reopened").json()["case_status"] == "reopened"
    timeline = office.get(f"/api/v1/cases/{cid}/events").json()
    kinds = [e["kind"] for e in timeline["items"]]
    assert kinds == ["accepted", "dispatched", "dispatched", "signed", "reported", "escalated", "jwg_requested",
                     "jwg_approved", "signed", "reported", "filed", "callback", "reopened"]
    assert timeline["status"] == "reopened"
    assert office.get(f"/api/v1/cases/{cid}").json()["emergency"] is True


@pytest.mark.parametrize("kind", ["filed", "jwg_approved", "reopened"])
def test_a_refused_event_records_nothing(clients: Any, db: Database, world: dict[str, Any], kind: str) -> None:
    before = _count(db, CaseEvent)
    response = clients("office").post(f"/api/v1/cases/{world['cases']['sz']}/events", json={"kind": kind})
    assert response.status_code in (403, 409)
    assert response.headers["content-type"].startswith(PROBLEM)
    assert _count(db, CaseEvent) == before


def test_application_decision_is_the_offices(clients: Any, world: dict[str, Any]) -> None:
    application = world["applications"]["sh"]
    sub = clients("subcenter_sh")
    assert sub.post(f"/api/v1/applications/{application}/decision", json={"decision": "approve"}).status_code == 403
    office = clients("office")
    returned = office.post(f"/api/v1/applications/{application}/decision", json={"decision": "return"})
    assert returned.status_code == 422  # a return needs its reason
    returned = office.post(f"/api/v1/applications/{application}/decision", json={"decision": "return", "comment": "请补充负责人简历"})
    assert returned.json()["status"] == "returned"
    resubmitted = sub.patch(f"/api/v1/applications/{application}", json={"background": "负责人从事企业管理二十年"})
    assert resubmitted.json()["status"] == "submitted"
    approved = office.post(f"/api/v1/applications/{application}/decision", json={"decision": "approve", "comment": "同意"})
    body = approved.json()
    assert approved.status_code == 200 and body["status"] == "approved"
    assert body["node"].startswith("ws-") and len(body["enrollment_code"]) >= 20
    node = office.get(f"/api/v1/nodes/{body['node']}").json()
    assert node["parent"] == "sc-shanghai" and node["kind"] == "workstation" and node["status"] == "active"
    assert office.post(f"/api/v1/applications/{application}/decision", json={"decision": "reject", "comment": "x"}).status_code == 409


def test_bulletin_acknowledgement(clients: Any, world: dict[str, Any]) -> None:
    sz = clients("subcenter_sz")
    bulletin = world["bulletins"]["sz"]
    listed = {b["id"]: b for b in sz.get("/api/v1/bulletins").json()["items"]}
    assert listed[str(bulletin)]["acknowledged"] is False
    ack = sz.post(f"/api/v1/bulletins/{bulletin}/ack")
    assert ack.status_code == 201 and ack.json()["node"] == "sc-suzhou"
    assert sz.post(f"/api/v1/bulletins/{bulletin}/ack").status_code == 201  # idempotent
    assert {b["id"]: b for b in sz.get("/api/v1/bulletins").json()["items"]}[str(bulletin)]["acknowledged"] is True
    assert clients("subcenter_sh").post(f"/api/v1/bulletins/{bulletin}/ack").status_code == 404


def test_search_follows_renames_and_deletions(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    eid = str(world["enterprises"]["sz"])

    def found(term: str) -> list[str]:
        return [i["id"] for i in office.get("/api/v1/enterprises", params={"q": term}).json()["items"]]

    assert found("测试sz") == [eid]
    office.patch(f"/api/v1/enterprises/{eid}", json={"name": "启东瑞丰纺织有限公司昆山分公司"})
    assert found("测试sz") == [] and found("瑞丰纺织") == [eid] and found("rffz") == [eid]
    assert found("瑞丰") == [eid]  # a two-character term takes the scanning path
    office.delete(f"/api/v1/enterprises/{eid}")
    assert found("瑞丰纺织") == [] and found("瑞丰") == []


def test_the_search_index_beside_the_roster_follows_names_and_only_names(clients: Any, db: Database,
                                                                         world: dict[str, Any]) -> None:
    """PostgreSQL keeps the trigram indexes on enterprise_search, written by triggers when a row is made, renamed
    or removed: it always holds each enterprise's name and pinyin, and an edit of any other field leaves its row
    as it was (no new row version, so no GIN index entry). SQLite keeps its FTS5 table the same way."""
    from sqlalchemy import delete, text

    if db.dialect != "postgresql":
        pytest.skip("the PostgreSQL side of roster search")
    office = clients("office")

    def side() -> dict[str, tuple[str, str, str]]:
        with db.reads() as session:
            return {str(i): (n, p, x) for i, n, p, x in session.execute(
                text("SELECT id, name, name_pinyin, xmin::text FROM enterprise_search"))}

    def roster() -> dict[str, tuple[str, str]]:
        with db.reads() as session:
            return {str(i): (n, p) for i, n, p in session.execute(select(Enterprise.id, Enterprise.name,
                                                                         Enterprise.name_pinyin))}

    assert {k: v[:2] for k, v in side().items()} == roster() and roster()
    eid = str(world["enterprises"]["sh"])
    before = side()[eid]
    assert office.patch(f"/api/v1/enterprises/{eid}", json={"contact_phone": "13912345678", "notes": "整改中"}).is_success
    assert side()[eid] == before  # the same row version: not written
    assert office.patch(f"/api/v1/enterprises/{eid}", json={"name": "启东宏远物流有限公司"}).is_success
    assert {k: v[:2] for k, v in side().items()} == roster() and side()[eid][0] == "启东宏远物流有限公司"
    made = office.post("/api/v1/enterprises", json={
        "name": "启东联丰建筑劳务有限公司", "credit_code": make_credit_code("9", "1", "310115", "C4D5E6F7"),
        "region_code": "310115", "industry": "construction", "node": "sc-suzhou"})
    assert made.status_code == 201, made.text
    assert side()[made.json()["id"]][:2] == roster()[made.json()["id"]]
    with db.transaction() as session:  # removed for good (a row no spoke ever held is purged, say)
        session.execute(delete(Enterprise).where(Enterprise.id == made.json()["id"]))
    assert made.json()["id"] not in side() and {k: v[:2] for k, v in side().items()} == roster()


def test_people_are_found_by_the_name_they_have_now(clients: Any, world: dict[str, Any]) -> None:
    """A whole name is looked up in person_search at PostgreSQL (revision 0027), kept by triggers: a person is found
    under a new name and not the old one, and not at all once removed; a fragment shorter than three characters
    takes the scanning path and finds the same."""
    office = clients("office")
    pid = str(world["people"]["sh"])

    def found(q: str) -> list[str]:
        response = office.get("/api/v1/people", params={"q": q})
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert found("张sh") == [pid]
    assert office.patch(f"/api/v1/people/{pid}", json={"name": "欧阳建华"}).is_success
    assert found("欧阳建华") == [pid] and found("阳建华") == [pid] and found("欧阳") == [pid] and found("张sh") == []
    assert office.delete(f"/api/v1/people/{pid}").status_code == 204
    assert found("欧阳建华") == [] and found("欧阳") == []


def test_two_character_search_finds_terms_anywhere_in_a_name(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    eid = str(world["enterprises"]["sh"])
    office.patch(f"/api/v1/enterprises/{eid}", json={"name": "启东通启建工"})

    def found(term: str) -> list[str]:
        return [i["id"] for i in office.get("/api/v1/enterprises", params={"q": term}).json()["items"]]

    for term in ("启东", "通启", "建工", "QD", "jg"):  # start, middle, end of the name and of its pinyin initials
        assert eid in found(term), term
    assert found("无此") == [] and found('"x') == []
