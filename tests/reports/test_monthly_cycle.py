"""The monthly cycle run with `lianfu hub jobs run monthly-cycle --at …`: each sub-center's and unit's collection task
once, the previous month's digest as a draft counting that month's adopted risk reports, a warning drafted from it."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select

from common.db import Database
from common.models import Bulletin, Enterprise, InfoReport, Node, Notification, Task, Unit, User
from common.reports.models import Report
from common.settings import Settings
from hub.cli import hub as hub_cli
from support import HAS_STATUS, add_risk_reports

AT = "2026-12-01T08:00:00+08:00"
NOVEMBER = datetime.fromisoformat("2026-11-15T10:00:00+08:00")
OCTOBER = datetime.fromisoformat("2026-10-15T10:00:00+08:00")


def run(db: Database, settings: Settings, tmp_path: Path, name: str, at: str) -> dict[str, Any]:
    url = db.engine.url.render_as_string(hide_password=False)
    env = {"LIANFU_DATA_DIR": str(tmp_path / "cli"), "LIANFU_SECRET_KEY": settings.secret_key}
    ran = CliRunner().invoke(hub_cli, ["jobs", "run", name, "--db", url, "--at", at], env=env)
    assert ran.exit_code == 0, ran.output
    return json.loads(ran.output)


def test_monthly_cycle_makes_tasks_once_and_a_digest_of_adopted_reports(
        db: Database, settings: Settings, world: dict[str, Any], tmp_path: Path) -> None:
    add_risk_reports(db, world, NOVEMBER, [("sh", "economic_dispute", "high", "adopted"),
                                           ("sh", "other", "medium", "adopted"),
                                           ("sz", "economic_dispute", "low", "adopted"),
                                           ("ws", "other", "high", "not_adopted"),
                                           ("sz", "other", "low", "submitted")])
    add_risk_reports(db, world, OCTOBER, [("sz", "other", "low", "adopted")])
    first = run(db, settings, tmp_path, "monthly-cycle", AT)
    with db.reads() as session:
        subcenters = set(session.scalars(select(Node.id).where(Node.kind == "subcenter", Node.status == "active")))
        units = set(session.scalars(select(Unit.id).where(Unit.active.is_(True))))
    assert first == {"collection_tasks": len(subcenters) + len(units), "digest": "2026-11"}
    # Again, and again later the same month: nothing new.
    assert run(db, settings, tmp_path, "monthly-cycle", AT) == {"collection_tasks": 0, "digest": None}
    assert run(db, settings, tmp_path, "monthly-cycle", "2026-12-20T08:00:00+08:00") == {"collection_tasks": 0, "digest": None}
    with db.reads() as session:
        tasks = session.scalars(select(Task).where(Task.source == "collection")).all()
        assert {t.owner_node for t in tasks if t.owner_node} == subcenters
        assert {t.owner_unit for t in tasks if t.owner_unit} == units
        assert len(tasks) == len(subcenters) + len(units)
        assert {t.period for t in tasks} == {"2026-12"} and {t.due.isoformat() for t in tasks} == {"2026-12-25"}
        assert all(t.node_id == (t.owner_node or "hub") for t in tasks)
        [report] = session.scalars(select(Report)).all()
        assert (report.kind, report.period, report.status) == ("monthly", "2026-11", "draft")
        # The office is told the draft is there.
        told = set(session.scalars(select(User.username).join(Notification, Notification.user_id == User.id)
                                   .where(Notification.kind == "report.compiled")))
        assert "office" in told
        # Recomputed from the rows: November's adopted reports, by region, industry, category and severity.
        rows = session.execute(select(InfoReport.created_at, InfoReport.category, InfoReport.risk_level,
                                      Enterprise.region_code, Enterprise.industry,
                                      *( [InfoReport.status] if HAS_STATUS else []))
                               .join(Enterprise, Enterprise.id == InfoReport.enterprise_id)).all()
    def adopted(row: Any) -> bool:
        return not HAS_STATUS or row[-1] == "adopted"
    november = [r for r in rows if adopted(r) and r.created_at.astimezone(NOVEMBER.tzinfo).month == 11]
    october = [r for r in rows if adopted(r) and r.created_at.astimezone(NOVEMBER.tzinfo).month == 10]
    risk = report.figures["risk"]
    assert risk["total"] == len(november) == (3 if HAS_STATUS else 5)
    assert risk["previous_total"] == len(october) and risk["change"] == len(november) - len(october)
    assert {r["key"]: r["count"] for r in risk["by_region"]} == dict(Counter(r.region_code for r in november))
    assert {r["key"]: r["count"] for r in risk["by_industry"]} == dict(Counter(r.industry for r in november))
    assert {r["key"]: r["count"] for r in risk["by_category"]} == dict(Counter(r.category for r in november))
    assert {r["key"]: r["count"] for r in risk["by_severity"]} == dict(Counter(r.risk_level for r in november))
    assert risk["hot_regions"][0]["key"] == Counter(r.region_code for r in november).most_common(1)[0][0]


def test_a_warning_is_drafted_from_the_digest_for_its_regions_and_industries(
        db: Database, settings: Settings, world: dict[str, Any], tmp_path: Path, clients: Any) -> None:
    add_risk_reports(db, world, NOVEMBER, [("sh", "economic_dispute", "high", "adopted"),
                                           ("sz", "other", "low", "adopted")])
    run(db, settings, tmp_path, "monthly-cycle", AT)
    office = clients("office")
    [listed] = office.get("/api/v1/reports").json()["items"]
    report_id = listed["id"]
    drafted = office.post(f"/api/v1/reports/{report_id}/bulletin")
    assert drafted.status_code == 201, drafted.text
    body = drafted.json()
    assert body["kind"] == "warning" and body["published"] is False
    assert body["targets"]["regions"] == ["310115", "320505"]
    assert body["targets"]["industries"] == ["construction"]
    # The same draft again, not a second one.
    assert office.post(f"/api/v1/reports/{report_id}/bulletin").json()["id"] == body["id"]
    with db.reads() as session:
        bulletin = session.get(Bulletin, __import__("uuid").UUID(body["id"]))
        assert bulletin is not None and bulletin.published_at is None
        assert session.scalar(select(func.count()).select_from(Bulletin).where(Bulletin.title == body["title"])) == 1
    # The office writes its analysis and publishes; a liaison officer then reads the digest.
    changed = office.patch(f"/api/v1/reports/{report_id}", json={"analysis": "本月风险集中于建筑业。", "status": "published"})
    assert changed.status_code == 200 and changed.json()["status"] == "published"
    liaison = clients("liaison_xz")
    assert [r["id"] for r in liaison.get("/api/v1/reports").json()["items"]] == [report_id]
    assert liaison.get(f"/reports/{report_id}").status_code == 200
    assert "本月风险集中于建筑业。" in liaison.get(f"/reports/{report_id}").text
