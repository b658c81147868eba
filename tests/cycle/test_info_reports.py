"""Risk information: reported at a spoke offline, synced, reviewed by the office at the hub, the reporter told, the
review back at the spoke; the write rules hold for the API and a sync push alike; the list's filters and the form."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from common.clock import clock
from common.inforeports import service as reports
from common.models import AuditEntry, InfoReport, Notification
from sync.wire import PROTOCOL, PROTOCOL_HEADER, SCHEMA_HEADER, Change, PushBatch, encode
from tests.cycle_support import fed, principal_of  # noqa: F401 - fixtures
from tests.sync_support import Federation, rows


def _push(fed: Federation, spoke: Any, batch: PushBatch) -> Any:
    from common.migrate import head_and_previous

    sent = {PROTOCOL_HEADER: str(PROTOCOL), SCHEMA_HEADER: head_and_previous()[0], "Content-Type": "application/json",
            "Authorization": f"Bearer {spoke.link.node_token()}"}
    return fed.hub.post("/api/v1/sync/push", content=encode(batch), headers=sent)


def test_a_report_made_offline_at_a_spoke_is_reviewed_at_the_hub_and_the_review_comes_back(
        fed: Federation, world: dict[str, Any], principal_of: Any) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    reporter = sh.principal("subcenter_sh")
    # Offline: written at the spoke, queued for the hub.
    with sh.db.transaction(actor=reporter) as session:
        report = reports.create_report(session, reporter, {
            "title": "某项目工地拖欠农民工工资", "body": "约40人可能聚集讨薪", "category": "labour", "severity": "high",
            "region_code": "310115", "industry": "construction", "source": "项目部安全员"})
        report_id = str(report.id)
    assert sh.queued() >= 1
    pushed = sh.sync()
    assert pushed.ok and pushed.rejected == [], pushed
    at_hub = rows(fed.hub_db, "info_report")[report_id]
    assert at_hub["status"] == "submitted" and at_hub["risk_level"] == "high"
    assert str(at_hub["reported_by"]) == str(world["users"]["subcenter_sh"])

    office = principal_of(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        reports.review_report(session, office, report.id, "adopted", "纳入本月研判")
    with fed.hub_db.reads() as session:
        told = session.scalars(select(Notification).where(Notification.user_id == world["users"]["subcenter_sh"],
                                                          Notification.entity_id == report.id)).all()
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "review",
                                                           AuditEntry.entity_id == report_id)).all()
    assert len(told) == 1 and "已被采用" in told[0].title
    assert len(audited) == 1

    assert sh.sync().ok
    back = rows(sh.db, "info_report")[report_id]
    assert back["status"] == "adopted" and back["comment"] == "纳入本月研判"
    assert any(n["entity_id"] == report.id for n in rows(sh.db, "notification").values())


def test_a_reporter_cannot_review_through_the_api(clients: Any, world: dict[str, Any]) -> None:
    sub = clients("subcenter_sh")
    refused = sub.post("/api/v1/info-reports", json={"title": "自审", "status": "adopted"})
    assert refused.status_code == 403
    made = sub.post("/api/v1/info-reports", json={"title": "园区周边出现可疑人员", "category": "public_security",
                                                  "severity": "medium", "enterprise_id": str(world["enterprises"]["sh"])})
    assert made.status_code == 201, made.text
    report = made.json()
    assert report["status"] == "submitted" and report["severity"] == "medium" and report["region_code"] == "310115"
    assert sub.patch(f"/api/v1/info-reports/{report['id']}", json={"status": "adopted"}).status_code == 403
    assert sub.patch(f"/api/v1/info-reports/{report['id']}", json={"comment": "好"}).status_code == 403
    assert sub.post(f"/api/v1/info-reports/{report['id']}/review", json={"decision": "adopted"}).status_code == 403
    assert sub.get(f"/api/v1/info-reports/{report['id']}").json()["status"] == "submitted"
    # Another tenant does not see it; the office does and decides.
    assert clients("subcenter_sz").get(f"/api/v1/info-reports/{report['id']}").status_code == 404
    office = clients("office")
    no_reason = office.post(f"/api/v1/info-reports/{report['id']}/review", json={"decision": "not_adopted"})
    assert no_reason.status_code == 422
    decided = office.post(f"/api/v1/info-reports/{report['id']}/review",
                          json={"decision": "not_adopted", "comment": "信息不实"})
    assert decided.status_code == 200 and decided.json()["status"] == "not_adopted"
    # Reviewed: its reporter may no longer change it.
    assert sub.patch(f"/api/v1/info-reports/{report['id']}", json={"title": "改"}).status_code == 409


def test_a_liaison_reports_for_their_unit(clients: Any) -> None:
    xz = clients("liaison_xz")
    made = xz.post("/api/v1/info-reports", json={"title": "电信诈骗新手法", "category": "cyber", "source": "刑侦大队研判"})
    assert made.status_code == 201
    assert made.json()["source_unit"] == "criminal-investigation"
    assert made.json()["id"] in {r["id"] for r in xz.get("/api/v1/info-reports").json()["items"]}
    assert made.json()["id"] not in {r["id"] for r in clients("liaison_jz").get("/api/v1/info-reports").json()["items"]}


def test_a_pushed_review_by_the_reporter_is_refused(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    reporter = sh.principal("subcenter_sh")
    with sh.db.transaction(actor=reporter) as session:
        report_id = str(reports.create_report(session, reporter, {"title": "待审核", "category": "other"}).id)
    assert sh.sync().ok
    actor = str(world["users"]["subcenter_sh"])
    forged = Change("info_report", report_id, {"status": "adopted"}, fv={"status": [clock.now(), "sc-shanghai"]},
                    prior={"status": None}, actor=actor)
    answer = _push(fed, sh, PushBatch("forged-review", [forged], upto=1))
    assert answer.status_code == 200
    body = answer.json()
    assert body["applied"] == 0 and [r["id"] for r in body["rejected"]] == [report_id]
    assert rows(fed.hub_db, "info_report")[report_id]["status"] == "submitted"
    # A new report that arrives already adopted is refused too.
    made = dict(rows(sh.db, "info_report")[report_id])
    import uuid

    made.update(id=str(uuid.uuid4()), status="adopted", comment="自己采用")
    made = {k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if isinstance(v, uuid.UUID) else v)
            for k, v in made.items() if k not in ("version", "updated_at", "field_versions", "pushed_by", "pushed_version")}
    answer = _push(fed, sh, PushBatch("forged-new", [Change("info_report", made["id"], made, made=True, actor=actor)], upto=2))
    assert answer.json()["applied"] == 0 and [r["id"] for r in answer.json()["rejected"]] == [made["id"]]
    with fed.hub_db.reads() as session:
        assert session.get(InfoReport, uuid.UUID(made["id"])) is None


def test_the_list_filters_and_the_form(clients: Any, world: dict[str, Any]) -> None:
    ws = clients("workstation_1")
    form = ws.get("/info-reports/new")
    assert form.status_code == 200 and 'name="severity"' in form.text and "报送" in form.text
    saved = ws.post("/info-reports/new", data={"title": "工作站报送", "category": "economic", "severity": "low",
                                               "region_code": "310115", "industry": "construction", "body": "",
                                               "source": "", "enterprise_id": ""}, follow_redirects=False)
    assert saved.status_code in (302, 303), saved.text
    detail = ws.get(saved.headers["location"])
    assert detail.status_code == 200 and "工作站报送" in detail.text
    bad = ws.post("/info-reports/new", data={"title": "", "category": "economic", "severity": "extreme"})
    assert bad.status_code == 422
    office = clients("office")
    assert "工作站报送" in office.get("/info-reports", params={"category": "economic", "status": "submitted"}).text
    assert "工作站报送" not in office.get("/info-reports", params={"category": "labour"}).text
    assert "工作站报送" in office.get("/info-reports", params={"region_code": "310000", "industry": "construction"}).text
    listed = office.get("/api/v1/info-reports", params={"month": "1999-01"}).json()
    assert listed["items"] == []
    assert 'id="review-form"' in office.get(saved.headers["location"]).text
    assert 'id="review-form"' not in detail.text
