"""Extensions (延期): the unit asks with a reason and a new date, the office grants or refuses; a granted one moves
the unit's report-back deadline, and the escalation follows the new one."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from common.cases import escalation
from common.cases.deadlines import BEIJING, end_of_day, parse_time
from common.db import Database
from common.errors import Conflict, Forbidden, InvalidField, NotFound
from escalation_support import UNIT, add, case_unit, dispatched_case, events, told

HTML = {"Accept": "text/html"}


def _new_date(report_by: Any, days: int = 3) -> str:
    return (report_by.astimezone(BEIJING) + timedelta(days=days)).date().isoformat()


def test_a_granted_extension_moves_the_deadline_and_the_escalation_follows_it(
        db: Database, settings: Any, world: dict[str, Any]) -> None:
    case_id = dispatched_case(db, world, urgency="urgent")
    add(db, world, "liaison_xz", case_id, kind="signed")
    report_by = case_unit(db, case_id).report_by
    until = _new_date(report_by)
    asked = add(db, world, "liaison_xz", case_id, kind="extension_requested", note="需调取外地银行流水", until=until)
    assert asked.unit == UNIT and parse_time(asked.details["until"]) == end_of_day(parse_time(f"{until}T12:00:00+08:00").date())
    assert told(db, "case.extension_requested", case_id) == {"office", "leader"}
    with pytest.raises(Conflict):  # one request at a time
        add(db, world, "liaison_xz", case_id, kind="extension_requested", note="再延", until=_new_date(report_by, 5))
    granted = add(db, world, "office", case_id, kind="extension_approved", unit=UNIT)
    assert granted.details["until"] == asked.details["until"]
    new_due = parse_time(asked.details["until"])
    assert case_unit(db, case_id).report_by == new_due
    assert told(db, "case.extension_approved", case_id) == {"liaison_xz"}

    # Past the old deadline: nothing (the world's own case may be urged at these times, so this case is looked at).
    escalation.run(db, settings, report_by + timedelta(hours=3))
    assert events(db, case_id, "urged", "supervised") == []
    escalation.run(db, settings, new_due + timedelta(minutes=1))
    [urged] = events(db, case_id, "urged")
    assert urged.details == {"deadline": "report", "due": new_due.isoformat()}


def test_a_refused_extension_keeps_the_deadline(db: Database, world: dict[str, Any]) -> None:
    case_id = dispatched_case(db, world, urgency="urgent")
    report_by = case_unit(db, case_id).report_by
    add(db, world, "liaison_xz", case_id, kind="extension_requested", note="人手不足", until=_new_date(report_by))
    add(db, world, "office", case_id, kind="extension_rejected", unit=UNIT, note="请按期办结")
    assert case_unit(db, case_id).report_by == report_by
    assert told(db, "case.extension_rejected", case_id) == {"liaison_xz"}
    with pytest.raises(Conflict):  # nothing pending any more
        add(db, world, "office", case_id, kind="extension_approved", unit=UNIT)


def test_what_is_refused(db: Database, world: dict[str, Any]) -> None:
    case_id = dispatched_case(db, world, urgency="urgent")
    report_by = case_unit(db, case_id).report_by
    with pytest.raises(InvalidField) as no_date:
        add(db, world, "liaison_xz", case_id, kind="extension_requested", note="理由")
    assert no_date.value.problems[0].field == "until"
    with pytest.raises(InvalidField) as earlier:
        add(db, world, "liaison_xz", case_id, kind="extension_requested", note="理由",
            until=(report_by - timedelta(days=1)).astimezone(BEIJING).date().isoformat())
    assert earlier.value.problems[0].field == "until"
    with pytest.raises(InvalidField):  # a reason is required
        add(db, world, "liaison_xz", case_id, kind="extension_requested", until=_new_date(report_by))
    with pytest.raises((Forbidden, NotFound)):  # another unit's liaison is not on the case (nor sees it)
        add(db, world, "liaison_jz", case_id, kind="extension_requested", note="理由", until=_new_date(report_by))
    with pytest.raises(Forbidden):  # the office does not ask for the unit
        add(db, world, "office", case_id, kind="extension_requested", note="理由", until=_new_date(report_by))
    add(db, world, "liaison_xz", case_id, kind="extension_requested", note="理由", until=_new_date(report_by))
    with pytest.raises(Forbidden):  # a liaison cannot grant it
        add(db, world, "liaison_xz", case_id, kind="extension_approved", unit=UNIT)
    assert [e.kind for e in events(db, case_id, "extension_requested", "extension_approved")] == ["extension_requested"]


def test_the_case_page_offers_the_forms_to_the_right_roles(clients: Any, db: Database, world: dict[str, Any]) -> None:
    case_id = dispatched_case(db, world, urgency="urgent")
    liaison, office = clients("liaison_xz"), clients("office")
    page = liaison.get(f"/cases/{case_id}", headers=HTML).text
    assert 'class="card action action-extension_requested"' in page and 'name="until"' in page
    assert "action-extension_approved" not in office.get(f"/cases/{case_id}", headers=HTML).text
    until = _new_date(case_unit(db, case_id).report_by)
    posted = liaison.post(f"/cases/{case_id}/events", headers=HTML, follow_redirects=False,
                          data={"kind": "extension_requested", "note": "需调取证据", "until": until, "csrf_token": liaison.csrf})
    assert posted.status_code == 303, posted.text
    office_page = office.get(f"/cases/{case_id}", headers=HTML).text
    assert 'class="card action action-extension_approved"' in office_page and "申请延至" in office_page
    refused = liaison.post(f"/api/v1/cases/{case_id}/events", json={"kind": "extension_approved", "unit": UNIT})
    assert refused.status_code == 403
    granted = office.post(f"/api/v1/cases/{case_id}/events", json={"kind": "extension_approved", "unit": UNIT})
    assert granted.status_code in (200, 201) and granted.json()["until"]
    shown = liaison.get(f"/cases/{case_id}", headers=HTML).text
    assert "已延期" in shown and "反馈期限" in shown
