"""Deadlines as data: the office's settings, working days and holidays, and deadlines fixed at each dispatch."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from common.audit.models import AuditEntry
from common.cases import deadlines
from common.cases.deadlines import Calendar, at_dispatch, end_of_day, parse_time, steps
from common.center import settings
from common.db import Database
from common.errors import Forbidden, InvalidField
from escalation_support import UNIT, add, case_unit, dispatched_case, events

HTML = {"Accept": "text/html"}
FRIDAY = date(2026, 12, 4)


def test_working_days_skip_the_weekend_and_holidays_and_count_a_worked_saturday() -> None:
    plain = Calendar()
    assert plain.add_workdays(FRIDAY, 1) == date(2026, 12, 7)           # Friday + 1 → Monday
    assert plain.add_workdays(FRIDAY, 5) == date(2026, 12, 11)
    with_holiday = Calendar(holidays=["2026-12-07"])
    assert with_holiday.add_workdays(FRIDAY, 1) == date(2026, 12, 8)     # Monday off → Tuesday
    assert with_holiday.add_workdays(FRIDAY, 5) == date(2026, 12, 14)
    worked_saturday = Calendar(holidays=["2026-12-07"], workdays=["2026-12-05"])
    assert worked_saturday.add_workdays(FRIDAY, 1) == date(2026, 12, 5)
    # Dispatched on a Saturday: the first working day after it is Monday.
    assert plain.add_workdays(date(2026, 12, 5), 1) == date(2026, 12, 7)


def test_a_routine_dispatch_counts_working_days_to_the_end_of_the_day_and_an_urgent_one_hours() -> None:
    value = {**deadlines.DEFAULT_DEADLINES, "holidays": ["2026-12-07"]}
    friday_morning = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    routine = at_dispatch(value, "routine", "consultation", friday_morning)
    assert parse_time(routine["sign_by"]) == end_of_day(date(2026, 12, 8)) == datetime(2026, 12, 8, 16, 0, tzinfo=UTC)
    assert routine["basis"] == "workdays"
    assert parse_time(routine["report_by"]) == end_of_day(Calendar(["2026-12-07"]).add_workdays(FRIDAY, 15))
    urgent = at_dispatch(value, "urgent", "consultation", friday_morning)
    assert parse_time(urgent["sign_by"]) == friday_morning + timedelta(hours=2)
    assert parse_time(urgent["report_by"]) == friday_morning + timedelta(hours=72)
    # A category that differs has its own.
    value["categories"] = {"consultation": {"urgent": {"sign": 1, "report": 8}}}
    assert parse_time(at_dispatch(value, "urgent", "consultation", friday_morning)["report_by"]) == \
        friday_morning + timedelta(hours=8)
    assert parse_time(at_dispatch(value, "urgent", "licensing", friday_morning)["report_by"]) == \
        friday_morning + timedelta(hours=72)


def test_escalation_steps_of_a_routine_deadline_follow_the_calendar() -> None:
    due = end_of_day(date(2026, 12, 7))  # Monday 24:00
    remind, urge, supervise = steps("workdays", datetime(2026, 12, 4, 2, tzinfo=UTC), due, Calendar())
    assert remind == ("remind", datetime(2026, 12, 7, 1, 0, tzinfo=UTC))      # Monday 09:00 in Beijing
    assert urge == ("urged", due)
    assert supervise == ("supervised", end_of_day(date(2026, 12, 8)))
    started = datetime(2026, 12, 4, 2, tzinfo=UTC)
    clock = steps("clock", started, started + timedelta(hours=2), Calendar())
    assert [when for _, when in clock] == [started + timedelta(hours=1), started + timedelta(hours=2),
                                           started + timedelta(hours=3)]


def test_the_settings_are_checked_and_only_the_office_changes_them(db: Database, world: dict[str, Any]) -> None:
    office, liaison = world["principals"]["office"], world["principals"]["liaison_xz"]
    good = {**deadlines.DEFAULT_DEADLINES, "holidays": ["2027-01-01"]}
    with db.transaction() as session:
        with pytest.raises(Forbidden):
            settings.put(session, liaison, deadlines.DEADLINES_KEY, good)
    bad = {"urgency": {"routine": {"sign": 1.5, "report": 15}, "urgent": {"sign": 0, "report": 72},
                       "major": {"sign": 1, "report": 48}, "mass_incident": {"sign": 0.5, "report": 24}},
           "categories": {"nonsense": {}}, "holidays": ["2027-13-01"]}
    with db.transaction() as session:
        with pytest.raises(InvalidField) as refused:
            settings.put(session, office, deadlines.DEADLINES_KEY, bad)
    fields = {p.field for p in refused.value.problems}
    assert {"urgency.routine.sign", "urgency.urgent.sign", "categories.nonsense", "holidays"} <= fields


def test_a_change_applies_to_new_dispatches_only(db: Database, world: dict[str, Any]) -> None:
    case_id = dispatched_case(db, world, urgency="urgent")
    first = events(db, case_id, "dispatched")[0]
    before = parse_time(first.details["report_by"])
    assert before == first.at + timedelta(hours=72) and case_unit(db, case_id).report_by == before
    changed = {**deadlines.DEFAULT_DEADLINES,
               "urgency": {**deadlines.DEFAULT_DEADLINES["urgency"], "urgent": {"sign": 1, "report": 24}}}
    with db.transaction() as session:
        settings.put(session, world["principals"]["office"], deadlines.DEADLINES_KEY, changed)
    add(db, world, "office", case_id, kind="dispatched", unit="economic-crime")
    first_again, second = events(db, case_id, "dispatched")
    assert parse_time(first_again.details["report_by"]) == before
    assert case_unit(db, case_id).report_by == before
    assert parse_time(second.details["report_by"]) == second.at + timedelta(hours=24)
    assert case_unit(db, case_id, "economic-crime").report_by == second.at + timedelta(hours=24)


def test_the_office_sets_them_through_the_api_and_the_page_audited(clients: Any, db: Database,
                                                                   world: dict[str, Any]) -> None:
    office = clients("office")
    current = office.get("/api/v1/settings/deadlines")
    assert current.status_code == 200 and current.json()["urgency"]["routine"] == {"sign": 1, "report": 15}
    assert clients("liaison_xz").get("/api/v1/settings/deadlines").status_code == 403
    assert clients("workstation_1").put("/api/v1/settings/deadlines", json=current.json()).status_code == 403
    body = {**current.json(), "holidays": ["2027-01-01"], "categories": {"consultation": {"routine": {"sign": 1, "report": 5}}}}
    saved = office.put("/api/v1/settings/deadlines", json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["categories"]["consultation"]["routine"] == {"sign": 1, "report": 5}
    refused = office.put("/api/v1/settings/deadlines", json={**body, "holidays": ["tomorrow"]})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    assert office.get("/api/v1/settings/deadlines").json()["holidays"] == ["2027-01-01"]
    with db.reads() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "setting",
                                                        AuditEntry.entity_id == "deadlines")).first() is not None

    page = office.get("/admin/deadlines", headers=HTML)
    assert page.status_code == 200 and 'name="urgency.routine.report"' in page.text and "办理时限" in page.text
    assert "Working-day calendar" in office.get("/admin/deadlines?lang=en", headers=HTML).text
    assert clients("liaison_xz").get("/admin/deadlines", headers=HTML).status_code == 403
    form = {"csrf_token": office.csrf, "holidays": "2027-01-01\n2027-01-02", "workdays": ""}
    for urgency, pair in body["urgency"].items():
        form.update({f"urgency.{urgency}.sign": str(pair["sign"]), f"urgency.{urgency}.report": str(pair["report"])})
    form["urgency.urgent.report"] = "48"
    posted = office.post("/admin/deadlines", data=form, headers=HTML, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    after = office.get("/api/v1/settings/deadlines").json()
    assert after["urgency"]["urgent"]["report"] == 48 and after["holidays"] == ["2027-01-01", "2027-01-02"]
    form["urgency.routine.report"] = "abc"
    again = office.post("/admin/deadlines", data=form, headers=HTML)
    assert again.status_code == 422 and 'id="e-urgency.routine.report"' in again.text


def test_the_case_page_shows_each_units_deadlines(clients: Any, db: Database, world: dict[str, Any]) -> None:
    case_id = dispatched_case(db, world, urgency="urgent")
    page = clients("liaison_xz").get(f"/cases/{case_id}", headers=HTML).text
    assert "签收期限" in page and "反馈期限" in page and f'data-unit="{UNIT}"' in page
    english = clients("liaison_xz").get(f"/cases/{case_id}?lang=en", headers=HTML).text
    assert "Sign for by" in english and "Ask for more time" in english
