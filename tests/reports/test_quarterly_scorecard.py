"""The quarterly scorecard: every figure recomputed here from the cases and visits of the quarter; the summary task
of each unit made once."""
from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from common.cases import escalation
from common.db import Database
from common.models import Case, CaseEvent, Task, Unit, Visit
from common.reports.models import Report
from common.settings import Settings
from common.visits import service as visits
from hub.jobs import JOBS, run_job
from support import event, new_case

XZ, JZ = "criminal-investigation", "economic-crime"
START, END = datetime.fromisoformat("2026-07-01T00:00:00+08:00"), datetime.fromisoformat("2026-10-01T00:00:00+08:00")
AT = datetime.fromisoformat("2026-10-01T08:00:00+08:00")


def t(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}:00+08:00")


def handled(db: Database, world: dict[str, Any]) -> None:
    a = new_case(db, world, t("07-06T09:00"))
    event(db, world, "office", a, t("07-06T09:30"), kind="accepted")
    event(db, world, "office", a, t("07-06T10:00"), kind="dispatched", unit=XZ)
    event(db, world, "liaison_xz", a, t("07-06T10:30"), kind="signed", unit=XZ)
    event(db, world, "liaison_xz", a, t("07-08T16:00"), kind="reported", unit=XZ, note="已调解")
    b = new_case(db, world, t("08-03T09:00"))
    event(db, world, "office", b, t("08-03T09:30"), kind="accepted")
    event(db, world, "office", b, t("08-03T10:00"), kind="dispatched", unit=XZ)
    event(db, world, "liaison_xz", b, t("08-10T10:00"), kind="signed", unit=XZ)  # late
    c = new_case(db, world, t("08-04T09:00"))
    event(db, world, "office", c, t("08-04T09:30"), kind="accepted")
    event(db, world, "office", c, t("08-04T10:00"), kind="dispatched", unit=XZ)
    event(db, world, "liaison_xz", c, t("08-04T11:00"), kind="returned", unit=XZ, note="不属本部门管辖")
    event(db, world, "office", c, t("08-05T10:00"), kind="dispatched", unit=JZ)
    event(db, world, "liaison_jz", c, t("08-05T11:00"), kind="signed", unit=JZ)
    d = new_case(db, world, t("09-01T09:00"))
    event(db, world, "office", d, t("09-01T09:30"), kind="accepted")
    event(db, world, "office", d, t("09-01T10:00"), kind="dispatched", unit=JZ)
    e = new_case(db, world, t("06-29T09:00"))  # the quarter before
    event(db, world, "office", e, t("06-29T09:30"), kind="accepted")
    event(db, world, "office", e, t("06-29T10:00"), kind="dispatched", unit=XZ)
    with db.transaction() as session:
        visits.create_visit(session, world["principals"]["office"], {
            "enterprise_id": str(world["enterprises"]["sh"]), "visited_at": "2026-08-01T10:00:00", "kind": "safety",
            "findings": "消防通道堵塞", "hazards": [{"description": "消防通道堵塞", "severity": "high"}]})


def _when(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def expected_units(db: Database) -> dict[str, dict[str, Any]]:
    """From the events, by hand: each dispatch of the quarter and what its unit did after it (until re-dispatched)."""
    with db.reads() as session:
        events = session.scalars(select(CaseEvent).order_by(CaseEvent.at, CaseEvent.id)).all()
        names = dict(session.execute(select(Unit.id, Unit.name)).tuples().all())
    out: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.kind != "dispatched" or not START <= _when(e.at) < END:
            continue
        row = out.setdefault(e.unit, {"name": names[e.unit], "dispatched": 0, "sign_due": 0, "signed_on_time": 0,
                                      "hours": [], "report_due": 0, "reported_on_time": 0, "returned": 0,
                                      "extensions": 0, "urged": 0, "supervised": 0})
        row["dispatched"] += 1
        after = []
        for x in events:
            if x.case_id == e.case_id and x.unit == e.unit and _when(x.at) > _when(e.at) or (x.case_id == e.case_id and x.unit == e.unit and _when(x.at) == _when(e.at) and x.id > e.id):
                if x.kind == "dispatched":
                    break
                after.append(x)
        signed = [x for x in after if x.kind == "signed"]
        reported = [x for x in after if x.kind == "reported"]
        row["returned"] += sum(x.kind == "returned" for x in after)
        sign_by, report_by = _when(e.details["sign_by"]), _when(e.details["report_by"])
        if signed:
            row["sign_due"] += 1
            row["signed_on_time"] += _when(signed[0].at) <= sign_by
            row["hours"].append((_when(signed[0].at) - _when(e.at)).total_seconds() / 3600)
        elif AT > sign_by:
            row["sign_due"] += 1
        if reported:
            row["report_due"] += 1
            row["reported_on_time"] += _when(reported[0].at) <= report_by
        elif AT > report_by:
            row["report_due"] += 1
    for e in events:
        if e.kind in ("urged", "supervised") and START <= _when(e.at) < END:
            out.setdefault(e.unit, {"name": names[e.unit], "dispatched": 0, "sign_due": 0, "signed_on_time": 0, "hours": [],
                                    "report_due": 0, "reported_on_time": 0, "returned": 0, "extensions": 0,
                                    "urged": 0, "supervised": 0})[e.kind] += 1
    return out


def test_the_quarterly_scorecard_is_what_the_cases_say(db: Database, settings: Settings, world: dict[str, Any]) -> None:
    handled(db, world)
    escalation.run(db, settings, t("09-20T10:00"))  # 催办 of what is still waiting
    escalation.run(db, settings, t("09-28T10:00"))
    ran = run_job(db, settings, JOBS["quarterly-cycle"], AT)
    assert ran.error is None, ran.error
    with db.reads() as session:
        units = list(session.scalars(select(Unit.id).where(Unit.active.is_(True))))
        assert ran.result == {"scorecard": "2026-Q3", "summary_tasks": len(units)}
        report = session.scalars(select(Report).where(Report.period == "2026-Q3")).one()
        tasks = session.scalars(select(Task).where(Task.source == "summary")).all()
        assert sorted(t.owner_unit for t in tasks) == sorted(units)
        assert {t.cycle_key for t in tasks} == {f"summary:2026-Q3:unit:{u}" for u in units}
        assert all(t.report_id == report.id and t.node_id == "hub" for t in tasks)
        quarter_visits = [v for v in session.scalars(select(Visit)) if START <= _when(v.visited_at) < END]
    assert run_job(db, settings, JOBS["quarterly-cycle"], AT).result == {"scorecard": None, "summary_tasks": 0}

    expected = expected_units(db)
    got = {u["unit"]: u for u in report.figures["units"]}
    assert set(got) == set(expected)
    assert got[XZ]["dispatched"] == 3 and got[XZ]["returned"] == 1 and got[JZ]["dispatched"] == 2
    assert got[XZ]["signed_on_time"] == 1 and got[XZ]["sign_due"] == 3  # A in time, B late, C returned unsigned
    for unit, want in expected.items():
        row = got[unit]
        hours = want.pop("hours")
        for key, value in want.items():
            assert row[key] == value, (unit, key)
        assert row["median_sign_hours"] == (round(statistics.median(hours), 1) if hours else None)
        assert row["sign_rate"] == (round(100 * want["signed_on_time"] / want["sign_due"], 1) if want["sign_due"] else None)
        assert row["report_rate"] == (round(100 * want["reported_on_time"] / want["report_due"], 1)
                                      if want["report_due"] else None)
        assert row["satisfaction"] is None  # no call-back in the quarter
    assert got[JZ]["urged"] >= 1
    # Per sub-center: the quarter's visits and hazards, against the enterprises of its subtree.
    sh = next(s for s in report.figures["subcenters"] if s["node"] == "sc-shanghai")
    assert sh["visits"] == len(quarter_visits) == 1 and sh["hazards"] == 1 and sh["hazards_open"] == 1
    assert sh["visited"] == 1 and sh["overdue"] == sh["planned"] - 1
    with db.reads() as session:
        assert report.figures["cases"]["total"] == sum(
            1 for c in session.scalars(select(Case)) if START <= _when(c.created_at) < END)


def test_the_half_years_figures_for_the_joint_meeting(db: Database, settings: Settings, world: dict[str, Any]) -> None:
    from common.reports.service import compile_half_year

    handled(db, world)
    with db.reads() as session:
        figures = compile_half_year(session, "2026-H2")
        q3 = compile_half_year(session, "2026-H1")
    assert [m["key"] for m in figures["risk_trend"]] == [f"2026-{m:02d}" for m in range(7, 13)]
    units = {u["unit"]: u for u in figures["units"]}
    assert units[XZ]["dispatched"] >= 3 and units[XZ]["returned"] == 1
    totals = figures["totals"]
    assert totals["dispatched"] == sum(u["dispatched"] for u in figures["units"])
    assert totals["returned"] == sum(u["returned"] for u in figures["units"])
    assert totals["overdue"] == sum(u["sign_due"] - u["signed_on_time"] + u["report_due"] - u["reported_on_time"]
                                    for u in figures["units"])
    # The first half holds only the dispatch of 29 June.
    assert {u["unit"]: u["dispatched"] for u in q3["units"]} == {XZ: 1}
