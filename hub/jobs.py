"""The hub's scheduled jobs: what each is, how often it runs, and one way to run it that records how it went.

Each job is `run(db, settings, now) -> dict`, named by an import string resolved only when it runs: a job whose module
is not there (yet) records "not available" instead of stopping the others.
"""
from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from common.db import Database
from common.i18n import N_
from common.notify.models import JobRun
from common.ops.metrics import note_job_run
from common.orm import utcnow
from common.settings import Settings

log = logging.getLogger("lianfu.jobs")

NOT_AVAILABLE = "not available"


@dataclass(frozen=True)
class Job:
    name: str
    interval: float  # seconds between runs
    description: str  # msgid, shown in the person's language
    target: str  # "module:function"
    # A frequent job's runs that did nothing are written to its log at most this often (seconds), not each second.
    quiet_log_seconds: float = 0.0


JOBS: dict[str, Job] = {job.name: job for job in (
    Job("deliveries", 1.0, N_("Sends due messages to WeCom group robots and mailboxes, retrying failed ones."),
        "common.notify.sender:run", quiet_log_seconds=60.0),
    Job("escalation", 60.0, N_("Urges and supervises cases past their deadlines."), "common.cases.escalation:run"),
    Job("sync_alert", 3600.0, N_("Tells the office of nodes that have not synced for too long."),
        "common.notify.alerts:run"),
    Job("task_reminders", 86400.0, N_("Reminds owners of tasks due tomorrow and of overdue tasks, once each."),
        "common.tasks.reminders:run"),
    Job("monthly-cycle", 3600.0, N_("On the 1st: each sub-center's and unit's collection task, last month's digest."),
        "common.reports.cycle:monthly_cycle"),
    Job("quarterly-cycle", 3600.0, N_("After a quarter: its scorecard as a draft and each unit's summary task."),
        "common.reports.cycle:quarterly_cycle"),
    Job("semiannual-cycle", 3600.0, N_("After a half year: its figures as a draft for the joint meeting."),
        "common.reports.cycle:semiannual_cycle"),
    Job("annual-cycle", 3600.0, N_("After a year: its figures as a draft for the annual summary."),
        "common.reports.cycle:annual_cycle"),
    Job("upload-leftovers", 86400.0, N_("Clears uploads left unfinished for a week (complete files are kept)."),
        "common.attachments.leftovers:run"),
)}


class JobUnavailable(RuntimeError):
    """The job's code is not in this build."""


def resolve(target: str) -> Callable[[Database, Settings, datetime], dict[str, Any]]:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise JobUnavailable(NOT_AVAILABLE) from exc
        raise
    function = getattr(module, attribute, None)
    if not callable(function):
        raise JobUnavailable(NOT_AVAILABLE)
    return function


@dataclass
class Ran:
    result: dict[str, Any] | None
    error: str | None


class QuietRuns:
    """Per process: runs of frequent jobs that did nothing, not yet written to the log. (It decides only what is
    logged, never whether a job runs: that is the scheduler's advisory lock, hub/scheduler.py.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._written: dict[str, float] = {}

    def hold(self, job: Job, busy: bool, at: float) -> int | None:
        """None to hold this run back (counted for later), else how many runs to write now (this one included)."""
        with self._lock:
            count = self._pending.pop(job.name, 0) + 1
            if busy or job.quiet_log_seconds <= 0 or at - self._written.get(job.name, -1e18) >= job.quiet_log_seconds:
                self._written[job.name] = at
                return count
            self._pending[job.name] = count
            return None


def run_job(db: Database, settings: Settings, job: Job, now: datetime | None = None, *,
            quiet: QuietRuns | None = None, next_run_at: datetime | None = None) -> Ran:
    """Run `job` once as if at `now` (default: now) and record it in its JobRun row: started, finished, result or
    error, runs, next run. With `quiet`, a frequent job's idle runs are written only now and then (see Job)."""
    started = utcnow()
    logged_start = quiet is None or job.quiet_log_seconds <= 0
    if logged_start:
        _write(db, job.name, last_started_at=started)
    result: dict[str, Any] | None = None
    error: str | None = None
    try:
        result = resolve(job.target)(db, settings, now or started)
    except JobUnavailable as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a job's failure is recorded; the scheduler keeps running the others
        log.exception("job %s failed", job.name)
        error = f"{type(exc).__name__}: {exc}"[:2000]
    finished = utcnow()
    note_job_run(job.name, failed=error is not None)
    busy = error is not None or any(bool(v) for v in (result or {}).values())
    runs = 1 if quiet is None else quiet.hold(job, busy, finished.timestamp())
    if runs is not None:
        values: dict[str, Any] = {"last_started_at": started, "last_finished_at": finished, "last_error": error,
                                  "last_result": result, "runs": JobRun.runs + runs}
        if next_run_at is not None:
            values["next_run_at"] = next_run_at
        _write(db, job.name, **values)
    return Ran(result, error)


def _write(db: Database, name: str, **values: Any) -> None:
    with db.transaction() as session:
        build = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        session.execute(build(JobRun.__table__).values(name=name, runs=0).on_conflict_do_nothing(index_elements=["name"]))
        session.execute(update(JobRun).where(JobRun.name == name).values(**values)
                        .execution_options(synchronize_session=False))


def note_next_run(db: Database, name: str, when: datetime) -> None:
    """When a job is due next, as a process that has just taken the jobs over plans it."""
    _write(db, name, next_run_at=when)


def job_rows(db: Database) -> list[tuple[Job, JobRun | None]]:
    """Every registered job with its log row (None before its first run), in the registry's order."""
    with db.reads() as session:
        logs = {row.name: row for row in session.scalars(select(JobRun))}
        session.expunge_all()
    return [(job, logs.get(name)) for name, job in JOBS.items()]


def next_after(moment: datetime, job: Job) -> datetime:
    return moment + timedelta(seconds=job.interval)
