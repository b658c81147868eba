"""Who hears of what: each event's notices in the inboxes of the right people and its messages to the right robots,
written with the event; group messages carry no personal data."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from common.bulletins import service as bulletins
from common.cases import service as cases
from common.db import Database
from common.federation import service as federation
from common.models import Case, Delivery, Node, Notification, Unit, User
from escalation_support import UNIT, add, deliveries, dispatched_case, number_of, told

ROBOT = "http://127.0.0.1:9/cgi-bin/webhook/send?key=xz"
HUB_ROBOT = "http://127.0.0.1:9/cgi-bin/webhook/send?key=hub"


def _robots(db: Database) -> None:
    with db.transaction() as session:
        session.execute(update(Unit).where(Unit.id == UNIT).values(webhook_url=ROBOT))
        session.execute(update(Node).where(Node.id == "hub").values(webhook_url=HUB_ROBOT))
        session.execute(update(User).where(User.username == "liaison_xz").values(email="xz@example.test"))


def test_a_dispatch_tells_the_units_officers_and_its_group_with_the_deadlines(db: Database, world: dict[str, Any]) -> None:
    _robots(db)
    office = world["principals"]["office"]
    with db.transaction() as session:
        case = cases.create_case(session, office, {
            "enterprise_id": str(world["enterprises"]["sh"]), "channel": "hotline", "category": "economic_dispute",
            "urgency": "major", "title": "工地欠薪聚集",
            "details": {"caller_name": "王小明", "caller_phone": "13912345678", "people_involved": "李四 13800001111"}})
        cases.add_case_event(session, office, case.id, {"kind": "accepted"})
        cases.add_case_event(session, office, case.id, {"kind": "dispatched", "unit": UNIT})
        case_id, number = case.id, case.number
    assert told(db, "case.dispatched", case_id) == {"liaison_xz"}
    with db.reads() as session:
        notice = session.scalars(select(Notification).where(Notification.entity_id == case_id)).one()
    assert number in notice.title and "反馈期限" in notice.body and "重特大" in notice.body and notice.urgent
    assert notice.link == f"/cases/{case_id}"
    sent = {(d.channel, d.target): d for d in deliveries(db, "case.dispatched") if number in d.subject}
    assert set(sent) == {("wecom", ROBOT), ("email", "xz@example.test")}
    group = sent[("wecom", ROBOT)].body
    assert number in group and "工地欠薪聚集" in group and "签收期限" in group and "紧急程度" in group
    for personal in ("王小明", "13912345678", "李四", "13800001111", "刑侦大队联络员"):
        assert personal not in group


def test_returned_and_reported_tell_the_office(db: Database, world: dict[str, Any]) -> None:
    _robots(db)
    case_id = dispatched_case(db, world, urgency="urgent")
    add(db, world, "office", case_id, kind="dispatched", unit="economic-crime")
    add(db, world, "liaison_jz", case_id, kind="returned", note="不属本单位职责")
    assert told(db, "case.returned", case_id) == {"office", "leader"}
    assert any(d.target == HUB_ROBOT for d in deliveries(db, "case.returned"))
    add(db, world, "liaison_xz", case_id, kind="signed")
    add(db, world, "liaison_xz", case_id, kind="reported", note="已办结")
    assert told(db, "case.reported", case_id) == {"office", "leader"}


def test_the_emergency_plan_reaches_leaders_and_every_unit_at_once(db: Database, world: dict[str, Any]) -> None:
    _robots(db)
    case_id = dispatched_case(db, world, urgency="mass_incident")
    add(db, world, "office", case_id, kind="dispatched", unit="economic-crime")
    add(db, world, "office", case_id, kind="escalated")
    assert told(db, "case.escalated", case_id) == {"leader", "liaison_xz", "liaison_jz"}
    with db.reads() as session:
        assert all(n.urgent for n in session.scalars(select(Notification).where(Notification.kind == "case.escalated")))
    assert {d.target for d in deliveries(db, "case.escalated") if d.channel == "wecom"} == {ROBOT, HUB_ROBOT}
    add(db, world, "office", case_id, kind="jwg_requested", note="需赴当地协调")
    assert told(db, "case.jwg_requested", case_id) == {"leader"}


def test_a_warning_reaches_the_addressed_nodes_people_and_groups(db: Database, world: dict[str, Any]) -> None:
    robot = "http://127.0.0.1:9/cgi-bin/webhook/send?key=sz"
    with db.transaction() as session:
        session.execute(update(Node).where(Node.id == "sc-suzhou").values(webhook_url=robot))
        bulletin = bulletins.create_bulletin(session, world["principals"]["office"], {
            "kind": "warning", "title": "电信诈骗预警", "body": "近期冒充客服诈骗多发", "severity": "serious",
            "targets": {"nodes": ["sc-suzhou"]}})
    with db.reads() as session:
        people = set(session.scalars(select(User.username).join(Notification, Notification.user_id == User.id)
                                     .where(Notification.entity_id == bulletin.id)))
    assert people == {"subcenter_sz"}
    assert [d.target for d in deliveries(db, "bulletin.published") if d.subject.endswith("电信诈骗预警")] == [robot]


def test_a_decided_application_tells_its_applicant(db: Database, world: dict[str, Any]) -> None:
    with db.transaction() as session:
        federation.decide_application(session, world["principals"]["office"], world["applications"]["sz"], "reject",
                                      "材料不全")
    with db.reads() as session:
        rows = session.execute(select(User.username, Notification.kind).join(Notification, Notification.user_id == User.id)
                               .where(Notification.entity_id == world["applications"]["sz"])).all()
    assert [tuple(r) for r in rows] == [("subcenter_sz", "application.reject")]


def test_an_enterprise_hears_when_its_own_request_changes_status(db: Database, world: dict[str, Any]) -> None:
    case_id = world["cases"]["ws"]  # raised by workstation_1
    add(db, world, "office", case_id, kind="accepted")
    assert told(db, "case.status", case_id) == {"workstation_1"}
    add(db, world, "office", case_id, kind="comment", note="已联系企业")  # no change of status: nothing
    with db.reads() as session:
        assert session.scalar(select(Case.status).where(Case.id == case_id)) == "accepted"
        assert len(session.scalars(select(Notification).where(Notification.kind == "case.status",
                                                               Notification.entity_id == case_id)).all()) == 1
        # To the person alone: never to a group.
        assert not session.scalars(select(Delivery).where(Delivery.kind == "case.status",
                                                          Delivery.channel == "wecom")).all()
    assert number_of(db, case_id)
