"""The hub's scheduler: one runner of the jobs however many workers try (a PostgreSQL advisory lock), another taking
over when it stops; every run in the job log; a job whose code is missing recorded, not fatal; a commit that queues
messages wakes the sender; `lianfu hub jobs` and `jobs run`; the silent-node alert, once a day per node."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from common.db import Database
from common.models import JobRun, Node, Notification, SyncPeer, Unit, User
from common.notify.service import Audience, Notice, notify
from common.settings import Settings
from hub.cli import hub as hub_cli
from hub.jobs import JOBS, NOT_AVAILABLE, Job, run_job
from hub.scheduler import HubScheduler
from tests.notify_support import PROBE_RUNS, Robot, eventually

PROBE = {"probe": Job("probe", 0.2, "probe", "tests.notify_support:probe")}


def job_log(db: Database, name: str) -> JobRun | None:
    with db.reads() as session:
        row = session.get(JobRun, name)
        if row is not None:
            session.expunge(row)
        return row


@pytest.mark.postgresql
@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_of_two_hub_workers_one_runs_the_jobs_and_the_other_takes_over(db: Database, settings: Settings) -> None:
    PROBE_RUNS.clear()
    url = db.engine.url.render_as_string(hide_password=False)
    workers = {name: HubScheduler(Database.connect(url), replace(settings, host=name), jobs=PROBE, retry_seconds=0.3)
               for name in ("a", "b")}
    try:
        for worker in workers.values():
            worker.start()
        assert eventually(lambda: len(PROBE_RUNS) >= 8)
        runners = {host for host, _ in PROBE_RUNS}
        assert len(runners) == 1, runners
        first = runners.pop()
        other = "b" if first == "a" else "a"
        assert workers[first].running_jobs and not workers[other].running_jobs
        workers[first].stop()
        stopped = time.monotonic()
        assert eventually(lambda: any(host == other for host, _ in PROBE_RUNS), timeout=10)
        time.sleep(0.5)
        assert not [at for host, at in PROBE_RUNS if host == first and at > stopped + 0.3]
        assert workers[other].running_jobs
        log = job_log(db, "probe")
        assert log is not None and log.runs == len(PROBE_RUNS) and log.last_result == {"ran": 1}
    finally:
        for worker in workers.values():
            worker.stop()
            worker.db.dispose()


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_a_single_sqlite_hub_runs_its_jobs_and_logs_each_run(db: Database, settings: Settings) -> None:
    PROBE_RUNS.clear()
    worker = HubScheduler(db, settings, jobs=PROBE, retry_seconds=0.3)
    worker.start()
    try:
        assert eventually(lambda: len(PROBE_RUNS) >= 3)
    finally:
        worker.stop()
    time.sleep(0.3)
    log = job_log(db, "probe")
    assert log.runs >= 3 and log.last_error is None and log.last_started_at <= log.last_finished_at
    assert log.next_run_at is not None


def test_a_job_whose_code_is_missing_is_logged_as_not_available(db: Database, settings: Settings) -> None:
    missing = Job("missing", 60, "x", "common.cases.no_such_module:run")
    ran = run_job(db, settings, missing)
    assert ran.error == NOT_AVAILABLE
    assert job_log(db, "missing").last_error == NOT_AVAILABLE
    run_job(db, settings, JOBS["escalation"])  # there or not, it never raises


def test_a_commit_that_queues_messages_wakes_the_sender(db: Database, world: dict[str, Any], settings: Settings) -> None:
    slow = {"deliveries": replace(JOBS["deliveries"], interval=30.0)}
    with Robot() as robot:
        with db.transaction() as session:
            session.execute(update(Unit).where(Unit.id == "criminal-investigation").values(webhook_url=robot.url()))
        worker = HubScheduler(db, settings, jobs=slow, retry_seconds=0.3)
        worker.start()
        try:
            assert eventually(lambda: job_log(db, "deliveries") is not None)  # its first run is done
            started = time.monotonic()
            with db.transaction() as session:
                notify(session, "wake:1", Notice(kind="x", title="唤醒", group_text="唤醒测试"),
                       Audience(units=("criminal-investigation",)))
            assert robot.wait_for(1, timeout=5), "not sent before the 30 s tick"
            assert time.monotonic() - started < 5
        finally:
            worker.stop()


def test_jobs_through_the_command_line(db: Database, world: dict[str, Any], settings: Settings, tmp_path: Any) -> None:
    runner = CliRunner()
    url = db.engine.url.render_as_string(hide_password=False)
    env = {"LIANFU_DATA_DIR": str(tmp_path / "cli"), "LIANFU_SECRET_KEY": settings.secret_key}
    listed = runner.invoke(hub_cli, ["jobs", "--db", url], env=env)
    assert listed.exit_code == 0, listed.output
    assert [line.split()[0] for line in listed.output.splitlines()[1:]] == list(JOBS)
    with Robot() as robot:
        with db.transaction() as session:
            session.execute(update(Unit).where(Unit.id == "criminal-investigation").values(webhook_url=robot.url()))
            notify(session, "cli:1", Notice(kind="x", title="命令行", group_text="命令行发送"),
                   Audience(units=("criminal-investigation",)))
        ran = runner.invoke(hub_cli, ["jobs", "run", "deliveries", "--db", url, "--at", "2099-01-01T08:00:00+08:00"],
                            env=env)
        assert ran.exit_code == 0, ran.output
        assert json.loads(ran.output) == {"dead": 0, "failed": 0, "sent": 1}
        assert robot.count("命令行发送") == 1
    listed = runner.invoke(hub_cli, ["jobs", "--db", url], env=env)
    line = next(line for line in listed.output.splitlines() if line.startswith("deliveries"))
    assert "+08:00" in line and " 1 " in line
    as_json = json.loads(runner.invoke(hub_cli, ["jobs", "--json", "--db", url], env=env).output)
    assert as_json[0]["name"] == "deliveries" and as_json[0]["last_result"]["sent"] == 1
    bad = runner.invoke(hub_cli, ["jobs", "run", "nothing", "--db", url], env=env)
    assert bad.exit_code == 2 and "no such job" in bad.output
    bad = runner.invoke(hub_cli, ["jobs", "run", "deliveries", "--at", "yesterday", "--db", url], env=env)
    assert bad.exit_code == 2 and "ISO-8601" in bad.output


def test_a_silent_node_is_reported_to_the_office_once_a_day(db: Database, world: dict[str, Any],
                                                            settings: Settings, tmp_path: Any) -> None:
    now = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing
    with db.transaction() as session:
        session.query(SyncPeer).delete()
        session.add(SyncPeer(node_id="sc-shanghai", last_success_at=now - timedelta(hours=30)))
        session.add(SyncPeer(node_id="ws-demo-1", last_success_at=now - timedelta(hours=2)))
        session.add(SyncPeer(node_id="sc-suzhou", last_success_at=None))
        name = session.get(Node, "sc-shanghai").name
        office = session.scalar(select(func.count()).select_from(User).where(User.role == "office", User.active.is_(True)))
    runner = CliRunner()
    url = db.engine.url.render_as_string(hide_password=False)
    env = {"LIANFU_DATA_DIR": str(tmp_path / "cli"), "LIANFU_SECRET_KEY": settings.secret_key}
    for at, told in ((now, 1), (now + timedelta(hours=3), 0), (now + timedelta(days=1), 1)):
        with db.transaction() as session:  # the workstation keeps syncing
            session.execute(update(SyncPeer).where(SyncPeer.node_id == "ws-demo-1")
                            .values(last_success_at=at - timedelta(hours=1)))
        ran = runner.invoke(hub_cli, ["jobs", "run", "sync_alert", "--db", url, "--at", at.isoformat()], env=env)
        assert ran.exit_code == 0, ran.output
        assert json.loads(ran.output) == {"quiet": 1, "told": told}
    with db.reads() as session:
        notes = list(session.scalars(select(Notification).where(Notification.kind == "sync.silent")))
    assert len(notes) == 2 * office
    assert all(n.link == "/admin/nodes" and n.title.startswith(name) for n in notes)
    assert {n.title for n in notes} == {f"{name}已 30 小时未同步", f"{name}已 54 小时未同步"}



@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_of_two_workers_of_one_sqlite_hub_one_runs_the_jobs(db: Database, settings: Settings) -> None:
    PROBE_RUNS.clear()
    url = db.engine.url.render_as_string(hide_password=False)
    workers = {name: HubScheduler(Database.connect(url), replace(settings, host=name), jobs=PROBE, retry_seconds=0.3)
               for name in ("a", "b")}
    try:
        for worker in workers.values():
            worker.start()
        assert eventually(lambda: len(PROBE_RUNS) >= 6)
        [first] = {host for host, _ in PROBE_RUNS}
        other = "b" if first == "a" else "a"
        workers[first].stop()
        assert eventually(lambda: any(host == other for host, _ in PROBE_RUNS), timeout=10)
    finally:
        for worker in workers.values():
            worker.stop()
            worker.db.dispose()


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_only_the_served_hub_takes_part_in_the_jobs(db: Database, settings: Settings) -> None:
    from common.settings import NotifySettings
    from hub.app import create_app

    assert create_app(settings).state.scheduler is None  # what tests build in-process
    assert isinstance(create_app(settings, jobs=True).state.scheduler, HubScheduler)  # `lianfu hub serve`
    off = replace(settings, notify=NotifySettings(scheduler=False))  # LIANFU_HUB_SCHEDULER=0
    assert create_app(off, jobs=True).state.scheduler is None
