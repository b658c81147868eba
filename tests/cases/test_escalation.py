"""The escalation job: a reminder before a deadline, 催办 once it has passed, 督办 later, each once per deadline."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from common.cases import escalation
from common.cases.deadlines import parse_time
from common.db import Database
from common.models import Notification
from escalation_support import (UNIT, add, add_unit_leader, case_unit, dispatched_case, events, number_of, told)

OFFICE = {"office", "leader"}
# The unit's officers: its liaison and its leader (a liaison account with the leader flag).
UNIT_PEOPLE = {"liaison_xz", "xz_leader"}


def test_reminder_then_urged_then_supervised_each_once(db: Database, settings: Any, world: dict[str, Any]) -> None:
    add_unit_leader(db)
    case_id = dispatched_case(db, world, urgency="urgent")
    dispatch = events(db, case_id, "dispatched")[0]
    sign_by = parse_time(dispatch.details["sign_by"])  # 2 h after the dispatch
    assert case_unit(db, case_id).next_check == sign_by - timedelta(hours=1)

    escalation.run(db, settings, sign_by - timedelta(hours=2))  # nothing due yet
    assert told(db, "case.reminder", case_id) == set()
    escalation.run(db, settings, sign_by - timedelta(minutes=30))
    assert told(db, "case.reminder", case_id) == UNIT_PEOPLE
    assert events(db, case_id, "urged", "supervised") == []

    late = sign_by + timedelta(minutes=1)
    escalation.run(db, settings, late)
    assert [e.kind for e in events(db, case_id, "urged", "supervised")] == ["urged"]
    # The same minute again: the dispatch is not even read (its next step is later).
    assert case_unit(db, case_id).next_check == sign_by + timedelta(hours=1)
    escalation.run(db, settings, late)
    [urged] = events(db, case_id, "urged")
    assert urged.unit == UNIT and urged.actor_role == "system" and urged.actor_id is None
    assert urged.details == {"deadline": "sign", "due": sign_by.isoformat()}
    assert told(db, "case.urged", case_id) == UNIT_PEOPLE | OFFICE

    later = sign_by + timedelta(hours=1, minutes=1)  # a further half of the 2 h allowed
    for _ in range(2):  # run twice at the same time: the second finds nothing to do
        escalation.run(db, settings, later)
    assert len(events(db, case_id, "urged")) == 1
    [supervised] = events(db, case_id, "supervised")
    assert supervised.details["deadline"] == "sign"
    assert told(db, "case.supervised", case_id) == {"xz_leader"} | OFFICE
    with db.reads() as session:
        notice = session.scalars(select(Notification).where(Notification.kind == "case.supervised")).first()
        assert notice is not None and number_of(db, case_id) in notice.title and notice.urgent
        assert notice.link == f"/cases/{case_id}"
    # Counted per unit for the quarterly figures.
    with db.reads() as session:
        counts = escalation.counts_by_unit(session, later - timedelta(days=1), later + timedelta(days=1))
    assert counts[UNIT] == {"urged": 1, "supervised": 1}


def test_a_run_long_after_the_deadline_takes_both_steps_and_the_report_deadline_has_its_own(
        db: Database, settings: Any, world: dict[str, Any]) -> None:
    case_id = dispatched_case(db, world, urgency="major")
    dispatch = events(db, case_id, "dispatched")[0]
    sign_by, report_by = parse_time(dispatch.details["sign_by"]), parse_time(dispatch.details["report_by"])
    done = escalation.run(db, settings, sign_by + timedelta(hours=5))
    assert (done["urged"], done["supervised"]) == (1, 1)
    assert [e.kind for e in events(db, case_id, "urged", "supervised")] == ["urged", "supervised"]
    add(db, world, "liaison_xz", case_id, kind="signed")
    # Signed: the report back's deadline goes on by itself.
    # (The world's own routine case, dispatched when the world was built, is urged by now too: counted apart.)
    escalation.run(db, settings, report_by + timedelta(minutes=1))
    assert [e.kind for e in events(db, case_id, "urged", "supervised")] == ["urged", "supervised", "urged"]
    assert [e.details["deadline"] for e in events(db, case_id, "urged")] == ["sign", "report"]
    add(db, world, "liaison_xz", case_id, kind="reported", note="已协调支付")
    assert case_unit(db, case_id).next_check is None
    escalation.run(db, settings, report_by + timedelta(days=3))
    assert len(events(db, case_id, "urged", "supervised")) == 3


def test_a_routine_case_is_reminded_on_the_morning_of_its_last_working_day(
        db: Database, settings: Any, world: dict[str, Any]) -> None:
    case_id = dispatched_case(db, world, urgency="routine")
    sign_by = parse_time(events(db, case_id, "dispatched")[0].details["sign_by"])
    # 24:00 of a working day, Beijing time; its morning is 09:00 that day (15 h before). The world's own routine
    # case runs at the same times, so this case's notices and events are what is looked at.
    escalation.run(db, settings, sign_by - timedelta(hours=16))
    assert told(db, "case.reminder", case_id) == set()
    escalation.run(db, settings, sign_by - timedelta(hours=14))
    assert told(db, "case.reminder", case_id) == {"liaison_xz"}
    escalation.run(db, settings, sign_by + timedelta(minutes=1))
    assert [e.kind for e in events(db, case_id, "urged", "supervised")] == ["urged"]
    escalation.run(db, settings, sign_by + timedelta(hours=12))
    assert [e.kind for e in events(db, case_id, "urged", "supervised")] == ["urged"]
    escalation.run(db, settings, sign_by + timedelta(days=4))
    assert [e.kind for e in events(db, case_id, "urged", "supervised")] == ["urged", "supervised"]


def test_the_office_urges_by_hand_and_an_enterprise_may_not(clients: Any, db: Database, world: dict[str, Any]) -> None:
    case_id = dispatched_case(db, world, urgency="urgent")
    workstation = clients("workstation_1")
    refused = workstation.post(f"/api/v1/cases/{world['cases']['ws']}/events", json={"kind": "urged", "unit": UNIT})
    assert refused.status_code == 403
    liaison = clients("liaison_xz").post(f"/api/v1/cases/{case_id}/events", json={"kind": "supervised", "unit": UNIT})
    assert liaison.status_code == 403
    office = clients("office")
    missing = office.post(f"/api/v1/cases/{case_id}/events", json={"kind": "urged"})
    assert missing.status_code == 422
    urged = office.post(f"/api/v1/cases/{case_id}/events", json={"kind": "urged", "unit": UNIT, "note": "请今日内签收"})
    assert urged.status_code in (200, 201), urged.text
    assert told(db, "case.urged", case_id) == {"liaison_xz", "leader"}  # not the office account that urged
    page = office.get(f"/cases/{case_id}", headers={"Accept": "text/html"}).text
    assert 'class="card action action-urged"' in page and 'class="card action action-supervised"' in page
    assert "action-urged" not in clients("liaison_xz").get(f"/cases/{case_id}", headers={"Accept": "text/html"}).text


def test_a_dispatch_whose_steps_fail_holds_no_other_back(db: Database, settings: Any, world: dict[str, Any],
                                                         monkeypatch: Any) -> None:
    from common.cases import notices

    broken = dispatched_case(db, world, urgency="urgent")
    sound = dispatched_case(db, world, urgency="urgent", unit="economic-crime")
    sign_by = parse_time(events(db, broken, "dispatched")[0].details["sign_by"])
    real_remind = notices.remind

    def remind(session: Any, case: Any, unit: str, which: str, due: Any) -> None:
        if case.id == broken:
            raise RuntimeError("a fault in one case")
        real_remind(session, case, unit, which, due)

    monkeypatch.setattr(notices, "remind", remind)
    at = sign_by - timedelta(minutes=30)
    done = escalation.run(db, settings, at)
    assert done["failed"] == 1
    assert told(db, "case.reminder", sound) == {"liaison_jz"} and told(db, "case.reminder", broken) == set()
    assert case_unit(db, broken).next_check == at + escalation.RETRY_AFTER
