"""The routine cycle end to end, driven as the scheduler drives it (`lianfu hub jobs run … --at`): risk information
reported at a sub-center's spoke while it is offline, synced, adopted by the office, counted in that month's digest;
the collection task reaching the spoke; a warning drafted from the digest for its regions and industries; the digest's
PDF read back; the half year's joint meeting planned by the job with its agenda, held with a resolution that becomes a
task at the owner's spoke and stays on the next meeting's agenda until the owner's feedback is accepted."""
from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from common.orm import utcnow
from common.inforeports import service as reports
from common.meetings.models import Meeting
from common.models import Notification, User
from common.tasks import service as tasks
from hub.cli import hub as hub_cli
from tests.cycle_support import fed  # noqa: F401 - fixtures
from tests.sync_support import Federation, rows

LOCAL = ZoneInfo("Asia/Shanghai")


def _run(fed: Federation, tmp_path: Path, name: str, at: datetime) -> dict[str, Any]:
    url = fed.hub_db.engine.url.render_as_string(hide_password=False)
    env = {"LIANFU_DATA_DIR": str(tmp_path / "cli"), "LIANFU_SECRET_KEY": fed.hub_settings.secret_key}
    ran = CliRunner().invoke(hub_cli, ["jobs", "run", name, "--db", url, "--at", at.isoformat()], env=env)
    assert ran.exit_code == 0, ran.output
    return json.loads(ran.output)


def _next_month(today: date) -> datetime:
    first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    return datetime(first.year, first.month, first.day, 8, tzinfo=LOCAL)


def _next_half(today: date) -> datetime:
    return datetime(today.year, 7, 1, 8, tzinfo=LOCAL) if today.month <= 6 else datetime(today.year + 1, 1, 1, 8, tzinfo=LOCAL)


def test_the_cycle_from_a_spokes_report_to_the_next_meetings_agenda(
        fed: Federation, world: dict[str, Any], clients: Any, tmp_path: Path) -> None:
    today = utcnow().astimezone(LOCAL).date()
    month = f"{today:%Y-%m}"
    half = f"{today.year}-H{1 if today.month <= 6 else 2}"
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok

    # A sub-center head reports risk information at the spoke, offline; it reaches the hub on the next round.
    reporter = sh.principal("subcenter_sh")
    with sh.db.transaction(actor=reporter) as session:
        made = reports.create_report(session, reporter, {
            "title": "某工地拖欠农民工工资", "body": "约40人可能聚集讨薪", "category": "labour", "severity": "high",
            "region_code": "310115", "industry": "construction", "source": "项目部安全员"})
        report_id = str(made.id)
        # One it was not sure of, which the office will not adopt: it must not be counted.
        doubtful_id = str(reports.create_report(session, reporter, {
            "title": "传言某企业将裁员", "body": "未核实", "category": "other", "severity": "low",
            "region_code": "310115", "industry": "manufacturing", "source": "群众反映"}).id)
    assert sh.sync().ok
    office = clients("office")
    adopted = office.post(f"/api/v1/info-reports/{report_id}/review", json={"decision": "adopted", "comment": "纳入研判"})
    assert adopted.status_code == 200, adopted.text
    refused = office.post(f"/api/v1/info-reports/{doubtful_id}/review", json={"decision": "not_adopted", "comment": "未核实"})
    assert refused.status_code == 200, refused.text

    # The 1st of next month: the month's collection tasks and this month's digest.
    ran = _run(fed, tmp_path, "monthly-cycle", _next_month(today))
    assert ran["digest"] == month and ran["collection_tasks"] >= 1
    [listed] = [r for r in office.get("/api/v1/reports").json()["items"] if r["period"] == month]
    digest = office.get(f"/api/v1/reports/{listed['id']}").json()
    risk = digest["figures"]["risk"]
    assert risk["total"] == 1
    assert {r["key"]: r["count"] for r in risk["by_region"]} == {"310115": 1}
    assert {r["key"]: r["count"] for r in risk["by_industry"]} == {"construction": 1}
    assert {r["key"]: r["count"] for r in risk["by_severity"]} == {"high": 1}
    # The sub-center's collection task for next month reaches its spoke.
    assert sh.sync().ok
    collection = [t for t in rows(sh.db, "task").values() if t["source"] == "collection"]
    assert [t["owner_node"] for t in collection] == ["sc-shanghai"]

    # A warning drafted in one step from the digest, for the regions and industries it found.
    bulletin = office.post(f"/api/v1/reports/{listed['id']}/bulletin")
    assert bulletin.status_code == 201, bulletin.text
    assert bulletin.json()["targets"]["regions"] == ["310115"]
    assert bulletin.json()["targets"]["industries"] == ["construction"]
    published = office.patch(f"/api/v1/reports/{listed['id']}", json={"analysis": "建筑业欠薪风险上升。", "status": "published"})
    assert published.status_code == 200 and published.json()["status"] == "published"

    # The digest as PDF: its Chinese title and its figure, as text a person can select.
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pdf = office.get(f"/reports/{listed['id']}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    (tmp_path / "digest.pdf").write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "digest.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert month in text and "建筑业欠薪风险上升。" in text

    # After the half year: its figures, and its joint meeting planned with the agenda built from it.
    ran = _run(fed, tmp_path, "semiannual-cycle", _next_half(today))
    assert ran["report"] == half and ran["meeting"]
    assert _run(fed, tmp_path, "semiannual-cycle", _next_half(today))["meeting"] is None  # once
    meeting = office.get(f"/api/v1/meetings/{ran['meeting']}").json()
    assert meeting["status"] == "planned" and meeting["period"] == half
    risks = next(item for item in meeting["agenda"] if item["kind"] == "risks")
    assert risks["data"]["total"] >= 1
    with fed.hub_db.reads() as session:
        told = session.scalars(select(User.username).join(Notification, Notification.user_id == User.id)
                               .where(Notification.kind == "meeting.planned")).all()
    assert "office" in told
    page = office.get(f"/meetings/{ran['meeting']}")
    assert page.status_code == 200 and f"{half} 联席会议" in page.text

    # Held, with a resolution for the sub-center: it becomes a task that reaches the sub-center's spoke.
    due = (today + timedelta(days=30)).isoformat()
    held = office.patch(f"/api/v1/meetings/{ran['meeting']}", json={
        "held_at": datetime(today.year, today.month, today.day, 9, tzinfo=LOCAL).isoformat(), "attendees": ["市局领导", "各分中心负责人"], "minutes": "会议研究了欠薪风险。",
        "resolutions": [{"text": "上海分中心走访在沪建筑企业", "owner_node": "sc-shanghai", "due": due}],
        "status": "held"})
    assert held.status_code == 200, held.text
    [resolution] = held.json()["resolutions"]
    task_id = resolution["task_id"]
    assert sh.sync().ok
    at_spoke = rows(sh.db, "task")[task_id]
    assert at_spoke["status"] == "open" and at_spoke["source"] == "resolution"

    # The next meeting carries it while it is open ...
    following = office.post("/api/v1/meetings", json={"kind": "semiannual", "period": _following_half(half)})
    assert following.status_code == 201, following.text
    following_id = following.json()["id"]
    assert task_id in _carried(office, following_id)

    # ... and still once the owner has answered at the spoke, until the office accepts the answer.
    owner = sh.principal("subcenter_sh")
    with sh.db.transaction(actor=owner) as session:
        tasks.submit_feedback(session, owner, uuid.UUID(task_id), "已走访12家企业")
    assert sh.sync().ok
    assert task_id in _carried(office, following_id)
    accepted = office.post(f"/api/v1/tasks/{task_id}/decision", json={"action": "accept", "comment": ""})
    assert accepted.status_code == 200 and accepted.json()["status"] == "done"
    assert task_id not in _carried(office, following_id)
    assert sh.sync().ok
    assert rows(sh.db, "task")[task_id]["status"] == "done"
    with fed.hub_db.reads() as session:
        assert session.get(Meeting, uuid.UUID(ran["meeting"])).status == "held"


def _carried(office: Any, meeting_id: str) -> set[str]:
    got = office.get(f"/api/v1/meetings/{meeting_id}")
    assert got.status_code == 200, got.text
    return {item["task_id"] for item in got.json()["agenda"] if item["kind"] == "resolution"}


def _following_half(half: str) -> str:
    year, part = half.split("-H")
    return f"{year}-H2" if part == "1" else f"{int(year) + 1}-H1"
