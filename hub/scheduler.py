"""The hub's scheduler: exactly one process of all the hub's workers and hosts runs its jobs.

On PostgreSQL the runner is whoever holds a session-level advisory lock, on a connection of its own kept for that
alone; every other process tries again every few seconds and takes over when the holder's connection ends (the
server releases the lock with it: a process that dies lets go). On SQLite a hub is one host: the lock is an flock on
a file beside the database, which the system likewise lets go of when its process ends (`--workers 2` on SQLite still
runs each job in one of them).

APScheduler 3 keeps its jobs in memory (it cannot share a store between processes): each process has a
BackgroundScheduler with the lock-keeping job only, and adds the hub's jobs (fixed ids, coalesced, never two at
once) while it holds the lock. A commit that queued messages wakes the sender at once in the process that made it.
"""
from __future__ import annotations

import fcntl
import logging
import threading
import zlib
from datetime import datetime, timezone
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.pool import NullPool

from common.db import Database
from common.settings import Settings
from hub.jobs import JOBS, Job, QuietRuns, next_after, note_next_run, run_job

log = logging.getLogger("lianfu.jobs")

LOCK_KEY = zlib.crc32(b"lianfu hub jobs")  # the advisory lock's number, the same in every hub process
LOCK_JOB = "lianfu-jobs-lock"
RETRY_SECONDS = 5.0
WROTE_DELIVERIES = "wrote_deliveries"  # session.info flag: this transaction queued messages


class RunnerLock:
    """Whether this process is the one that runs the jobs. PostgreSQL: a session advisory lock on a dedicated
    connection (autocommit, outside the pool); SQLite: an exclusive flock on `<database>.jobs.lock`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._engine = None
        self._conn: Connection | None = None
        self._file: Any = None
        self._path = _lock_file(db)

    @property
    def held(self) -> bool:
        if self.db.dialect == "postgresql":
            return self._conn is not None
        return self._path is None or self._file is not None

    def check(self) -> bool:
        """Take the lock if free, or confirm it is still ours (its connection alive); whether this process holds it."""
        if self.db.dialect != "postgresql":
            return self._check_file()
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception as exc:  # noqa: BLE001 - the connection is gone, and the lock with it
                log.warning("lost the hub's job lock: %s", exc)
                self._drop()
        if self._engine is None:
            self._engine = create_engine(self.db.engine.url, poolclass=NullPool,
                                         isolation_level="AUTOCOMMIT")
        try:
            conn = self._engine.connect()
        except Exception as exc:  # noqa: BLE001 - the database is away: try again later
            log.warning("cannot reach the database for the hub's job lock: %s", exc)
            return False
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar())
        except Exception:  # noqa: BLE001
            conn.close()
            return False
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _check_file(self) -> bool:
        if self._path is None or self._file is not None:
            return True
        handle = open(self._path, "a+")  # noqa: SIM115 - held open for as long as the lock is
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001
                pass
            self._conn = None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            except Exception:  # noqa: BLE001 - closing the connection lets go of it anyway
                pass
        self._drop()
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _lock_file(db: Database) -> str | None:
    """The SQLite database file's lock file; None for a database in memory."""
    if db.dialect == "postgresql":
        return None
    name = db.engine.url.database
    return f"{name}.jobs.lock" if name and name != ":memory:" else None


class HubScheduler:
    """The jobs of JOBS (or `jobs`) run while this process holds the runner lock."""

    def __init__(self, db: Database, settings: Settings, jobs: dict[str, Job] | None = None,
                 retry_seconds: float = RETRY_SECONDS) -> None:
        self.db = db
        self.settings = settings
        self.jobs = JOBS if jobs is None else jobs
        self.retry_seconds = retry_seconds
        self.lock = RunnerLock(db)
        self.quiet = QuietRuns()
        self.running_jobs = False
        self._scheduler: BackgroundScheduler | None = None
        self._guard = threading.Lock()

    def start(self) -> None:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per second of "job executed" is noise
        # "skipped: maximum number of running instances reached" while a long send runs: expected, and not news.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        self._scheduler = BackgroundScheduler(timezone=timezone.utc, job_defaults={"coalesce": True, "max_instances": 1,
                                                                                    "misfire_grace_time": 30})
        self._scheduler.add_job(self.keep_lock, "interval", seconds=self.retry_seconds, id=LOCK_JOB,
                                next_run_time=datetime.now(timezone.utc))
        event.listen(self.db.writes, "do_orm_execute", _note_deliveries)
        event.listen(self.db.writes, "after_commit", self._after_commit)
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is None:
            return
        event.remove(self.db.writes, "do_orm_execute", _note_deliveries)
        event.remove(self.db.writes, "after_commit", self._after_commit)
        self._scheduler.shutdown(wait=False)  # a run in flight finishes on its own; its rows are leased
        self._scheduler = None
        self.running_jobs = False
        self.lock.release()

    def keep_lock(self) -> None:
        """Take or keep the runner lock, and have the jobs scheduled exactly while it is held."""
        with self._guard:
            held = self.lock.check()
            if held and not self.running_jobs and self._scheduler is not None:
                now = datetime.now(timezone.utc)
                for job in self.jobs.values():
                    # The frequent ones at once, the others after their interval (a restart does not run them all).
                    first = now if job.interval < 60 else next_after(now, job)
                    self._scheduler.add_job(self._run, "interval", args=[job.name], seconds=job.interval, id=job.name,
                                            replace_existing=True, next_run_time=first)
                    try:
                        note_next_run(self.db, job.name, first)
                    except Exception:  # noqa: BLE001 - only the log's "next run"; the job runs anyway
                        log.warning("could not note the next run of %s", job.name, exc_info=True)
                self.running_jobs = True
                log.info("this process runs the hub's jobs")
            elif not held and self.running_jobs and self._scheduler is not None:
                for job in self.jobs.values():
                    try:
                        self._scheduler.remove_job(job.name)
                    except Exception:  # noqa: BLE001 - not scheduled
                        pass
                self.running_jobs = False

    def _run(self, name: str) -> None:
        job = self.jobs[name]
        if not self.lock.held:
            return
        run_job(self.db, self.settings, job, quiet=self.quiet,
                next_run_at=next_after(datetime.now(timezone.utc), job))

    def wake(self, name: str = "deliveries") -> None:
        """Run `name` now rather than at its next tick (when this process runs the jobs)."""
        scheduler = self._scheduler
        if scheduler is None or not self.running_jobs:
            return
        try:
            scheduler.modify_job(name, next_run_time=datetime.now(timezone.utc))
        except Exception:  # noqa: BLE001 - not scheduled (just lost the lock, or shutting down)
            pass

    def _after_commit(self, session: Any) -> None:
        if session.info.pop(WROTE_DELIVERIES, False):
            self.wake()


def _note_deliveries(state: Any) -> None:
    """Mark a session that inserts into the outbox, so its commit can wake the sender."""
    if state.is_insert:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) == "delivery":
            state.session.info[WROTE_DELIVERIES] = True
