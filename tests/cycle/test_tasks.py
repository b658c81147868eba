"""Tasks: given to a sub-center, they reach its spoke; feedback made there comes back and the office accepts it; a
unit's task shows on its liaison's home page; a leader assigns directly; reminders are sent once each."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select

from common.attachments.blobs import BlobStore
from common.attachments.service import add_attachment
from common.clock import clock
from common.models import Notification
from common.settings import Settings
from common.tasks import reminders
from common.tasks import service as tasks
from sync.wire import PROTOCOL, PROTOCOL_HEADER, SCHEMA_HEADER, Change, PushBatch, encode
from tests.cycle_support import fed, principal_of  # noqa: F401 - fixtures
from tests.sync_support import Federation, rows


def test_a_task_for_a_sub_center_reaches_its_spoke_and_its_feedback_comes_back(
        fed: Federation, world: dict[str, Any], principal_of: Any) -> None:
    office = principal_of(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        task = tasks.create_task(session, office, {"title": "报送11月风险信息", "owner_node": "sc-shanghai",
                                                   "due": "2026-11-30", "source": "collection"})
        task_id = str(task.id)
    with fed.hub_db.reads() as session:
        told = session.scalar(select(func.count()).select_from(Notification).where(Notification.entity_id == task.id))
    assert told >= 1  # the sub-center's people are told of it
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    assert rows(sh.db, "task")[task_id]["status"] == "open"
    assert task_id not in rows(fed.enroll("sc-suzhou").db, "task")

    owner = sh.principal("subcenter_sh")
    with sh.db.transaction(actor=owner) as session:
        tasks.submit_feedback(session, owner, task.id, "已收集3条，均已报送")
        # The feedback's file, attached at the spoke, travels with it.
        attached = add_attachment(session, owner, BlobStore(sh.settings.data_dir / "blobs"), "task", task.id,
                                  "汇总.txt", "text/plain", "三条信息汇总".encode())
    pushed = sh.sync()
    assert pushed.ok and pushed.rejected == [], pushed
    at_hub = rows(fed.hub_db, "task")[task_id]
    assert at_hub["status"] == "submitted" and at_hub["feedback"] == "已收集3条，均已报送"
    assert rows(fed.hub_db, "attachment")[str(attached.id)]["entity_id"] == task.id
    # Whoever gave the task is told of the answer once the hub holds it, as if it had been given at the hub; a
    # round that sends it again tells no one twice.
    def told() -> list[Any]:
        with fed.hub_db.reads() as session:
            return list(session.scalars(select(Notification).where(Notification.entity_id == task.id,
                                                                   Notification.kind == "task.submitted")))
    [notice] = told()
    assert notice.user_id == office.user_id and "已收集3条" in notice.body
    assert sh.sync().ok and len(told()) == 1

    with fed.hub_db.transaction(actor=office) as session:
        tasks.office_decide(session, office, task.id, "accept", "")
    assert sh.sync().ok
    assert rows(sh.db, "task")[task_id]["status"] == "done"


def test_a_spoke_cannot_close_or_reassign_a_task(fed: Federation, world: dict[str, Any], principal_of: Any) -> None:
    from common.migrate import head_and_previous

    office = principal_of(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        task_id = str(tasks.create_task(session, office, {"title": "整改", "owner_node": "sc-shanghai"}).id)
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    actor = str(world["users"]["subcenter_sh"])
    headers = {PROTOCOL_HEADER: str(PROTOCOL), SCHEMA_HEADER: head_and_previous()[0], "Content-Type": "application/json",
               "Authorization": f"Bearer {sh.link.node_token()}"}
    for n, values in enumerate(({"status": "done"}, {"title": "改题"}, {"owner_node": "sc-suzhou"})):
        change = Change("task", task_id, values, fv={k: [clock.now(), "sc-shanghai"] for k in values},
                        prior={k: None for k in values}, actor=actor)
        body = fed.hub.post("/api/v1/sync/push", content=encode(PushBatch(f"forged-{n}", [change], upto=n + 1)),
                            headers=headers).json()
        assert body["applied"] == 0 and [r["id"] for r in body["rejected"]] == [task_id], values
    assert rows(fed.hub_db, "task")[task_id]["status"] == "open"


def test_a_units_task_shows_on_its_liaisons_home_page_and_is_answered_there(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    overdue = (date.today() - timedelta(days=3)).isoformat()
    made = office.post("/api/v1/tasks", json={"title": "报送季度工作总结", "owner_unit": "criminal-investigation",
                                              "due": overdue, "source": "summary"})
    assert made.status_code == 201, made.text
    task = made.json()
    assert task["node"] == "hub" and task["status"] == "open"
    xz, jz = clients("liaison_xz"), clients("liaison_jz")
    home = xz.get("/")
    assert "我的任务" in home.text and "报送季度工作总结" in home.text and "逾期" in home.text
    assert "报送季度工作总结" not in jz.get("/").text
    assert jz.get(f"/api/v1/tasks/{task['id']}").status_code == 404
    assert clients("subcenter_sh").get(f"/api/v1/tasks/{task['id']}").status_code == 404
    # The owner answers with a file attached; another unit may not.
    assert jz.post(f"/api/v1/tasks/{task['id']}/feedback", json={"feedback": "越权"}).status_code == 404
    answered = xz.post(f"/tasks/{task['id']}", data={"feedback": "总结已完成"},
                       files={"files": ("总结.txt", "本季度共办理案件12起".encode(), "text/plain")}, follow_redirects=False)
    assert answered.status_code in (302, 303), answered.text
    page = xz.get(f"/tasks/{task['id']}")
    assert "总结已完成" in page.text and "总结.txt" in page.text
    assert xz.post(f"/api/v1/tasks/{task['id']}/decision", json={"action": "accept"}).status_code == 403
    back = office.post(f"/api/v1/tasks/{task['id']}/decision", json={"action": "return"})
    assert back.status_code == 422  # sending back says what is missing
    back = office.post(f"/api/v1/tasks/{task['id']}/decision", json={"action": "return", "comment": "请补充数据"})
    assert back.status_code == 200 and back.json()["status"] == "open" and back.json()["comment"] == "请补充数据"
    again = xz.post(f"/api/v1/tasks/{task['id']}/feedback", json={"feedback": "已补充"})
    assert again.status_code == 200 and again.json()["status"] == "submitted"
    done = office.post(f"/api/v1/tasks/{task['id']}/decision", json={"action": "accept"})
    assert done.json()["status"] == "done"
    assert "报送季度工作总结" not in xz.get("/").text  # no longer open
    assert xz.post(f"/api/v1/tasks/{task['id']}/feedback", json={"feedback": "再改"}).status_code == 409


def test_only_leaders_assign_directly_and_only_the_office_gives_tasks(clients: Any, world: dict[str, Any]) -> None:
    office, leader = clients("office"), clients("leader")
    assert office.post("/api/v1/tasks", json={"title": "领导交办", "owner_unit": "legal", "source": "leader"}).status_code == 403
    made = leader.post("/api/v1/tasks", json={"title": "领导交办", "owner_user": str(world["users"]["subcenter_sz"])})
    assert made.status_code == 201 and made.json()["source"] == "leader" and made.json()["node"] == "sc-suzhou"
    assert clients("subcenter_sz").get("/api/v1/tasks", params={"mine": True}).json()["items"][0]["title"] == "领导交办"
    assert clients("subcenter_sh").post("/api/v1/tasks", json={"title": "x", "owner_unit": "legal"}).status_code == 403
    two_owners = office.post("/api/v1/tasks", json={"title": "x", "owner_unit": "legal", "owner_node": "sc-shanghai"})
    assert two_owners.status_code == 422
    assert office.get("/tasks/new").status_code == 200
    assert clients("liaison_xz").get("/tasks/new").status_code == 403


def test_reminders_are_sent_the_day_before_and_when_overdue_once_each(
        clients: Any, world: dict[str, Any], db: Any, settings: Settings) -> None:
    office = clients("office")
    due = date(2026, 12, 10)
    task = office.post("/api/v1/tasks", json={"title": "月度信息收集", "owner_unit": "economic-crime",
                                              "due": due.isoformat()}).json()

    def notices() -> list[str]:
        with db.reads() as session:
            return sorted(n.event_key for n in session.scalars(select(Notification).where(
                Notification.user_id == world["users"]["liaison_jz"], Notification.entity_id == _uuid(task["id"]))))

    at = lambda day: datetime(day.year, day.month, day.day, 1, 0, tzinfo=timezone.utc)  # noqa: E731 - 09:00 in Beijing
    assert notices() == [f"task:{task['id']}:assigned"]
    reminders.run(db, settings, at(due - timedelta(days=2)))
    assert len(notices()) == 1
    for _ in range(2):
        reminders.run(db, settings, at(due - timedelta(days=1)))
    assert notices() == sorted([f"task:{task['id']}:assigned", f"task:{task['id']}:due_soon"])
    for day in (due, due + timedelta(days=1), due + timedelta(days=2)):
        reminders.run(db, settings, at(day))
    assert notices() == sorted([f"task:{task['id']}:assigned", f"task:{task['id']}:due_soon", f"task:{task['id']}:overdue"])
    # A task already answered is not chased.
    clients("liaison_jz").post(f"/api/v1/tasks/{task['id']}/feedback", json={"feedback": "已完成"})
    with db.reads() as session:
        assert task["id"] not in {str(t.id) for t, _ in tasks.due_for_reminders(session, at(due + timedelta(days=5)))}


def _uuid(value: str) -> Any:
    import uuid

    return uuid.UUID(value)
