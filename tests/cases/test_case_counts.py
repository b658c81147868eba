"""The counts the statistics read (revision 0032) follow every write: cases per node, category and month
(`case_month`), each unit's dispatches and their steps (`case_unit`'s times, `unit_month`). The on-time rates read
from them equal the rates worked out from the timelines themselves, for the office, a liaison and one node, now and
after the clock has run on; and the migration counts an existing hub's rows as the triggers would have."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update

from common.cases import service as cases
from common.cases.clock import unit_clock
from common.dashboard.stats import month_window, node_scope, unit_on_time
from common.db import Database
from common.migrate import downgrade, upgrade
from common.models import Case, CaseMonth, CaseUnit, UnitCaseMonth, UnitMonth, new_id, utcnow
from sync.bulk import insert_rows

BEIJING = ZoneInfo("Asia/Shanghai")


def _counted(db: Database, query: Any) -> dict[tuple[str, str, str], int]:
    """(key, category, month in Beijing) → live cases, from rows of (key, category, created_at)."""
    counts: dict[tuple[str, str, str], int] = {}
    with db.reads() as session:
        for key, category, created in session.execute(query.where(Case.deleted_at.is_(None))):
            month = (key, category, created.astimezone(BEIJING).strftime("%Y-%m"))
            counts[month] = counts.get(month, 0) + 1
    return counts


def expected_cases(db: Database) -> dict[tuple[str, str, str], int]:
    return _counted(db, select(Case.node_id, Case.category, Case.created_at))


def expected_unit_cases(db: Database) -> dict[tuple[str, str, str], int]:
    return _counted(db, select(CaseUnit.unit_id, Case.category, Case.created_at).join(Case, Case.id == CaseUnit.case_id))


def kept_cases(db: Database) -> dict[tuple[str, str, str], int]:
    with db.reads() as session:
        return {(r.node_id, r.category, r.month): r.cases for r in session.scalars(select(CaseMonth)) if r.cases}


def kept_unit_cases(db: Database) -> dict[tuple[str, str, str], int]:
    with db.reads() as session:
        return {(r.unit_id, r.category, r.month): r.cases for r in session.scalars(select(UnitCaseMonth)) if r.cases}


def counts_agree(db: Database) -> bool:
    return kept_cases(db) == expected_cases(db) and kept_unit_cases(db) == expected_unit_cases(db)


def judged(db: Database, now: datetime, unit: str | None = None) -> dict[str, list[int]]:
    """Per unit (sign-fors due, in time, reports due, in time), worked out from each timeline as the case page does."""
    _, start, _ = month_window(now)
    out: dict[str, list[int]] = {}
    with db.reads() as session:
        for row in session.scalars(select(CaseUnit).where(CaseUnit.active.is_(True))):
            if unit is not None and row.unit_id != unit:
                continue
            case = session.get(Case, row.case_id)
            clock = unit_clock(row.unit_id, case.urgency, cases.timeline(session, row.case_id), now)
            if clock is None or clock.dispatched_at < start:
                continue
            tally = out.setdefault(row.unit_id, [0, 0, 0, 0])
            for i, timer in ((0, clock.sign), (2, clock.resolve)):
                if timer.done_at is not None:
                    tally[i] += 1
                    tally[i + 1] += int(timer.done_at <= timer.due)
                elif now > timer.due:
                    tally[i] += 1
    return out


def rates(session: Any, p: Any, now: datetime, every_unit: bool = True) -> dict[str, list[int]]:
    return {r.unit: [r.sign_due, r.sign_on_time, r.report_due, r.report_on_time]
            for r in unit_on_time(session, p, now, "zh_Hans", every_unit=every_unit)}


def assert_rates_agree(db: Database, world: dict[str, Any], now: datetime) -> dict[str, list[int]]:
    want = judged(db, now)
    with db.reads() as session:
        office = world["principals"]["office"]
        assert rates(session, office, now) == want, now
        # One node's figures are counted from its cases: the hub's subtree holds every case.
        assert rates(session, node_scope(session, office, "hub"), now) == want, now
        liaison = world["principals"]["liaison_jz"]
        assert rates(session, liaison, now, every_unit=False) == judged(db, now, "economic-crime"), now
    return want


def step(db: Database, world: dict[str, Any], case_id: Any, actor: str, kind: str, **data: Any) -> None:
    with db.transaction() as session:
        cases.add_case_event(session, world["principals"][actor], case_id, {"kind": kind, **data})


def test_the_unit_counts_follow_each_step_and_the_rates_equal_the_timelines(clients: Any, db: Database,
                                                                             world: dict[str, Any]) -> None:
    c = world["cases"]
    assert_rates_agree(db, world, utcnow())
    step(db, world, c["sh"], "liaison_xz", "signed")
    step(db, world, c["sz"], "office", "accepted")
    step(db, world, c["sz"], "office", "dispatched", unit="economic-crime")
    step(db, world, c["sz"], "liaison_jz", "signed")
    want = assert_rates_agree(db, world, utcnow())
    assert want["criminal-investigation"][:2] == [1, 1] and want["economic-crime"][:2] == [1, 1]
    # Returned: the unit is off the case and its dispatch no longer counts for it.
    step(db, world, c["sz"], "liaison_jz", "returned", note="不属本单位管辖")
    assert "economic-crime" not in assert_rates_agree(db, world, utcnow())
    # Given to it again: a new dispatch, a new clock.
    step(db, world, c["sz"], "office", "dispatched", unit="economic-crime")
    assert assert_rates_agree(db, world, utcnow())["economic-crime"] == [0, 0, 0, 0]
    step(db, world, c["hub"], "office", "accepted")
    step(db, world, c["hub"], "office", "dispatched", unit="economic-crime")
    step(db, world, c["hub"], "liaison_jz", "signed")
    later = utcnow() + timedelta(days=60)
    step(db, world, c["hub"], "liaison_jz", "extension_requested", until=(utcnow() + timedelta(days=40)).isoformat(),
         note="需调取外省材料")
    step(db, world, c["hub"], "office", "extension_approved", unit="economic-crime")
    step(db, world, c["sh"], "liaison_xz", "reported", note="已处置")
    assert_rates_agree(db, world, utcnow())
    # Sixty days on, nothing written: the open steps are late (the sz case's sign-for, the hub case's report back).
    assert assert_rates_agree(db, world, later)["economic-crime"] == [2, 1, 2, 0]
    with db.reads() as session:
        kept = {r.unit_id: r.dispatched for r in session.scalars(select(UnitMonth)) if r.dispatched}
        assert kept == {"criminal-investigation": 1, "economic-crime": 2}
    # The cases given to each unit (a liaison's requests), the returned one included.
    assert counts_agree(db) and sum(n for (unit, _, _), n in kept_unit_cases(db).items() if unit == "economic-crime") == 2


def test_the_case_counts_follow_every_write_of_the_cases(clients: Any, db: Database, world: dict[str, Any]) -> None:
    office = clients("office")
    assert counts_agree(db) and kept_cases(db) and kept_unit_cases(db)
    made = office.post("/api/v1/cases", json={"enterprise_id": str(world["enterprises"]["sh"]), "channel": "hotline",
                                              "category": "licensing", "title": "护照加急"})
    assert made.status_code == 201, made.text
    case_id = made.json()["id"]
    assert kept_cases(db) == expected_cases(db)
    changed = office.patch(f"/api/v1/cases/{case_id}", json={"category": "criminal_report"})
    assert changed.is_success, changed.text
    assert counts_agree(db) and ("sc-shanghai", "licensing") not in {k[:2] for k in kept_cases(db)}
    # A case given to a unit changes category: the unit's count follows.
    changed = office.patch(f"/api/v1/cases/{world['cases']['sh']}", json={"category": "licensing"})
    assert changed.is_success, changed.text
    assert counts_agree(db) and ("criminal-investigation", "licensing") in {k[:2] for k in kept_unit_cases(db)}
    # The enterprise's file moves to another sub-center, its cases with it.
    moved = office.patch(f"/api/v1/enterprises/{world['enterprises']['sh']}", json={"node": "sc-suzhou"})
    assert moved.is_success, moved.text
    assert counts_agree(db) and not any(k[0] == "sc-shanghai" for k in kept_cases(db))
    # Sync's bulk writes, a month in the past (31 October 17:00 UTC is 1 November in Beijing), a removal for good.
    now = utcnow()
    rows = [{"id": new_id(), "node_id": "ws-demo-1", "number": f"WS-2026-9{n:05d}", "enterprise_id": None, "channel": "platform",
             "category": "economic_dispute", "urgency": "routine", "jurisdiction": "local", "title": "同步而来",
             "description": "", "details": {}, "status": "submitted", "emergency": False, "lead_unit": None,
             "reported_by": None, "created_at": datetime(2026, 10, 31, 17, tzinfo=UTC), "updated_at": now, "version": 1,
             "field_versions": {}, "deleted_at": None, "pushed_by": None, "pushed_version": None} for n in range(3)]
    with db.transaction() as session:
        insert_rows(session, Case.__table__, rows)
    assert kept_cases(db)[("ws-demo-1", "economic_dispute", "2026-11")] >= 3 and counts_agree(db)
    with db.transaction() as session:  # given to a unit by a bulk write of the unit rows
        insert_rows(session, CaseUnit.__table__, [{"case_id": rows[2]["id"], "unit_id": "legal", "lead": True, "active": True,
                                                   "signed": False, "reported": False, "sign_by": None, "report_by": None,
                                                   "next_check": None, "dispatched_at": None, "signed_at": None,
                                                   "reported_at": None}])
    assert counts_agree(db) and ("legal", "economic_dispute", "2026-11") in kept_unit_cases(db)
    with db.transaction() as session:
        session.execute(update(Case).where(Case.id == rows[0]["id"]).values(deleted_at=now))
        session.execute(delete(Case).where(Case.id == rows[1]["id"]))
    assert counts_agree(db)
    with db.transaction() as session:
        session.execute(update(Case).where(Case.id == rows[0]["id"]).values(deleted_at=None))  # put back
        session.execute(delete(CaseUnit).where(CaseUnit.case_id == rows[2]["id"]))
    assert counts_agree(db) and ("legal", "economic_dispute", "2026-11") not in kept_unit_cases(db)


def test_the_migration_counts_an_existing_hub_as_the_triggers_do(clients: Any, db: Database, world: dict[str, Any],
                                                                 settings: Any) -> None:
    c = world["cases"]
    step(db, world, c["sh"], "liaison_xz", "signed")
    step(db, world, c["hub"], "office", "accepted")
    step(db, world, c["hub"], "office", "dispatched", unit="economic-crime")

    def state() -> tuple[Any, ...]:
        with db.reads() as session:
            times = sorted((str(r.case_id), r.unit_id, r.dispatched_at, r.signed_at, r.reported_at)
                           for r in session.scalars(select(CaseUnit)))
            units = sorted((r.unit_id, r.month, r.dispatched, r.signed, r.signed_on_time, r.reported, r.reported_on_time)
                           for r in session.scalars(select(UnitMonth)) if r.dispatched)
        return times, units, kept_cases(db), kept_unit_cases(db)

    before = state()
    assert before[1] and any(t[3] is not None for t in before[0])
    db.engine.dispose()
    downgrade(settings.database_url, "0031")
    upgrade(settings.database_url)
    assert state() == before
    assert isinstance(uuid.UUID(before[0][0][0]), uuid.UUID)
