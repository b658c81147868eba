"""Joint meetings: the half year's agenda from the cases and risk information, resolutions that become tasks once and
stay on the next meeting's agenda until done, and who may run meetings at all."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import select, update

from common.cases import service as cases
from common.db import Database
from common.meetings import service
from common.models import CaseEvent, CaseUnit, InfoReport, Notification, Task, User

H2 = (datetime(2026, 7, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc))


def _troubles(db: Database, world: dict[str, Any]) -> None:
    """Shanghai's case supervised and returned by criminal investigation; Suzhou's owed by traffic since August."""
    p = world["principals"]
    case_id = world["cases"]["sh"]
    with db.transaction() as session:
        late = world["cases"]["sz"]
        cases.add_case_event(session, p["office"], late, {"kind": "accepted"})
        cases.add_case_event(session, p["office"], late, {"kind": "dispatched", "unit": "traffic"})
        session.execute(update(CaseUnit).where(CaseUnit.case_id == late)
                        .values(report_by=datetime(2026, 8, 1, tzinfo=timezone.utc), reported=False))
        cases.add_case_event(session, p["office"], case_id, {"kind": "supervised", "unit": "criminal-investigation",
                                                             "note": "督办"})
        cases.add_case_event(session, p["liaison_xz"], case_id, {"kind": "returned", "note": "不属本单位管辖"})
        for n, category in enumerate(("fraud", "fraud", "labour")):
            session.add(InfoReport(title=f"风险{n}", category=category, node_id="sc-shanghai"))


def _expected(db: Database) -> dict[str, int]:
    """The half year's figures worked out again here, row by row, from the cases."""
    start, end = H2
    now = datetime.now(timezone.utc)
    with db.reads() as session:
        units = session.scalars(select(CaseUnit)).all()
        events = session.scalars(select(CaseEvent).where(CaseEvent.deleted_at.is_(None))).all()
        overdue = {u.case_id for u in units if u.active and not u.reported and u.report_by is not None
                   and start <= u.report_by < min(end, now)}
        returned = {e.case_id for e in events if e.kind == "returned" and start <= e.at < end}
        supervised = {e.case_id for e in events if e.kind == "supervised" and start <= e.at < end}
    return {"overdue": len(overdue), "returned": len(returned), "supervised": len(supervised)}


def _item(meeting: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(item for item in meeting["agenda"] if item["kind"] == kind)


def test_a_half_years_agenda_counts_its_overdue_returned_and_supervised_cases(clients: Any, db: Database,
                                                                               world: dict[str, Any]) -> None:
    _troubles(db, world)
    office = clients("office")
    made = office.post("/api/v1/meetings", json={"kind": "semiannual", "period": "2026-H2"})
    assert made.status_code == 201, made.text
    meeting = made.json()
    figures = _item(meeting, "cases")["data"]
    expected = _expected(db)
    assert {k: figures[k] for k in expected} == expected
    assert expected == {"overdue": 1, "returned": 1, "supervised": 1}
    assert [c["case_id"] for c in figures["worst"]] == [str(world["cases"]["sh"]), str(world["cases"]["sz"])]
    risks = _item(meeting, "risks")["data"]
    assert risks["by_category"] == {"fraud": 2, "labour": 1} and risks["total"] == 3
    # Another half year has none of it.
    other = office.post("/api/v1/meetings", json={"kind": "semiannual", "period": "2025-H2"}).json()
    assert {k: _item(other, "cases")["data"][k] for k in expected} == {"overdue": 0, "returned": 0, "supervised": 0}
    page = office.get(f"/meetings/{meeting['id']}")
    assert page.status_code == 200 and "超期、退单、督办案件" in page.text


def test_resolutions_become_tasks_once_and_stay_on_the_next_agenda_until_done(clients: Any, db: Database,
                                                                               world: dict[str, Any]) -> None:
    office = clients("office")
    meeting = office.post("/api/v1/meetings", json={"kind": "semiannual", "period": "2026-H2",
                                                    "attendees": ["指挥中心", "刑侦大队"]}).json()
    resolutions = [
        {"text": "刑侦大队牵头清理超期案件", "owner_unit": "criminal-investigation", "due": "2027-01-31"},
        {"text": "上海分中心完成年度巡访", "owner_node": "sc-shanghai", "due": "2027-02-28"},
        {"text": "工作站负责人报送安全台账", "owner_user": str(world["users"]["workstation_1"]), "due": "2027-03-15"},
    ]
    patched = office.patch(f"/api/v1/meetings/{meeting['id']}", json={"resolutions": resolutions, "minutes": "会议纪要"})
    assert patched.status_code == 200, patched.text
    with db.reads() as session:
        assert session.scalars(select(Task).where(Task.meeting_id.is_not(None))).all() == []  # not before it is held

    held = office.patch(f"/api/v1/meetings/{meeting['id']}", json={"status": "held"})
    assert held.status_code == 200, held.text
    again = office.patch(f"/api/v1/meetings/{meeting['id']}", json={"status": "held"})
    assert again.status_code == 200
    with db.transaction() as session:
        from common.meetings.models import Meeting

        row = session.get(Meeting, __import__("uuid").UUID(meeting["id"]))
        assert service.assign_resolutions(session, world["principals"]["office"], row) == []
    with db.reads() as session:
        tasks = session.scalars(select(Task).where(Task.meeting_id == __import__("uuid").UUID(meeting["id"]))
                                .order_by(Task.cycle_key)).all()
        assert len(tasks) == 3
        assert [(t.source, t.status, t.period) for t in tasks] == [("resolution", "open", "2026-H2")] * 3
        assert [(t.owner_unit, t.owner_node, t.owner_user, t.due, t.node_id) for t in tasks] == [
            ("criminal-investigation", None, None, date(2027, 1, 31), "hub"),
            (None, "sc-shanghai", None, date(2027, 2, 28), "sc-shanghai"),
            (None, None, world["users"]["workstation_1"], date(2027, 3, 15), "ws-demo-1")]
        told = {n.user_id for n in session.scalars(select(Notification).where(Notification.kind == "task.assigned"))}
        liaison = session.scalars(select(User.id).where(User.username == "liaison_xz")).one()
        assert {liaison, world["users"]["subcenter_sh"], world["users"]["workstation_1"]} <= told
    assert [r["task_id"] for r in held.json()["resolutions"]] == [str(t.id) for t in tasks]
    # A held meeting's resolutions are its tasks now.
    assert office.patch(f"/api/v1/meetings/{meeting['id']}",
                        json={"resolutions": resolutions[:1]}).status_code == 409

    following = office.post("/api/v1/meetings", json={"kind": "annual", "period": "2026"}).json()
    carried = [item for item in following["agenda"] if item["kind"] == "resolution"]
    assert {item["task_id"] for item in carried} == {str(t.id) for t in tasks}
    with db.transaction() as session:
        session.execute(update(Task).where(Task.id == tasks[0].id).values(status="done"))
    again = office.get(f"/api/v1/meetings/{following['id']}").json()
    assert {item["task_id"] for item in again["agenda"] if item["kind"] == "resolution"} == {str(tasks[1].id),
                                                                                               str(tasks[2].id)}
    # Its own meeting does not carry it: only a later one does.
    assert [i for i in office.get(f"/api/v1/meetings/{meeting['id']}").json()["agenda"] if i["kind"] == "resolution"] == []
    page = office.get(f"/meetings/{following['id']}")
    assert "上海分中心完成年度巡访" in page.text and "刑侦大队牵头清理超期案件" in page.text  # the year's resolutions
    assert office.patch(f"/api/v1/meetings/{meeting['id']}", json={"status": "closed"}).status_code == 200
    assert office.patch(f"/api/v1/meetings/{meeting['id']}", json={"status": "held"}).status_code == 409


def test_a_resolution_names_one_owner_that_exists(clients: Any) -> None:
    office = clients("office")
    meeting = office.post("/api/v1/meetings", json={"kind": "semiannual", "period": "2026-H1"}).json()
    for bad in ({"text": "无主", "due": "2027-01-01"},
                {"text": "两个", "owner_unit": "traffic", "owner_node": "sc-shanghai", "due": "2027-01-01"},
                {"text": "不存在", "owner_unit": "no-such-unit", "due": "2027-01-01"},
                {"text": "无期", "owner_unit": "traffic", "due": "明年"}):
        refused = office.patch(f"/api/v1/meetings/{meeting['id']}", json={"resolutions": [bad]})
        assert refused.status_code == 422, (bad, refused.text)
    assert office.get(f"/api/v1/meetings/{meeting['id']}").json()["resolutions"] == []


def test_only_the_office_runs_meetings(clients: Any) -> None:
    leader = clients("leader")
    made = leader.post("/api/v1/meetings", json={"kind": "semiannual", "period": "2026-H2"})
    assert made.status_code == 201
    meeting_id = made.json()["id"]
    for username in ("subcenter_sh", "workstation_1", "liaison_xz"):
        client = clients(username)
        assert client.post("/api/v1/meetings", json={"kind": "semiannual"}).status_code == 403, username
        assert client.get("/api/v1/meetings").status_code == 403, username
        assert client.patch(f"/api/v1/meetings/{meeting_id}", json={"status": "held"}).status_code == 403, username
        assert client.get("/meetings").status_code == 403, username
        assert client.post("/api/v1/surveys", json={"year": 2026}).status_code == 403, username
    assert clients("office").get(f"/api/v1/meetings/{meeting_id}").json()["status"] == "planned"


def test_the_meeting_page_plans_edits_and_holds_a_meeting(clients: Any, db: Database) -> None:
    office = clients("office")
    made = office.post("/meetings", data={"kind": "semiannual", "period": "2026-H2", "title": ""},
                       follow_redirects=False)
    assert made.status_code == 303, made.text
    path = made.headers["location"]
    saved = office.post(path, data={"title": "2026年下半年联席会议", "attendees": "指挥中心\n刑侦大队", "held_at": "",
                                    "agenda": "超期、退单、督办案件\n新增议题", "minutes": "纪要正文",
                                    "resolution_text": ["加强巡访", ""], "resolution_owner": ["node:sc-shanghai", "unit:traffic"],
                                    "resolution_due": ["2027-01-15", ""], "status": "held"}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    meeting = office.get("/api/v1/meetings/" + path.rsplit("/", 1)[1]).json()
    assert meeting["status"] == "held" and meeting["attendees"] == ["指挥中心", "刑侦大队"]
    assert [i["title"] for i in meeting["agenda"] if i["kind"] != "resolution"] == ["超期、退单、督办案件", "新增议题"]
    assert "data" in meeting["agenda"][0]  # the built item keeps its figures
    assert meeting["resolutions"][0]["owner_node"] == "sc-shanghai" and meeting["resolutions"][0]["task_status"] == "open"
    page = office.get(path)
    assert "加强巡访" in page.text and "纪要正文" in page.text
    # The time is Beijing time on the page, and stays so when the form is saved again.
    office.post(path, data={"title": "2026年下半年联席会议", "held_at": "2026-12-20T09:30", "attendees": "", "minutes": ""})
    assert office.get("/api/v1/meetings/" + path.rsplit("/", 1)[1]).json()["held_at"].startswith("2026-12-20T01:30")
    assert 'value="2026-12-20T09:30"' in office.get(path).text
