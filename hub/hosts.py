"""Each serving hub says it is alive: its row in `hub_host` (hostname:port, pid, workers, version, started, last
seen), written when it starts and every HEARTBEAT_SECONDS after, for `lianfu hub status`."""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from common.db import Database
from common.ops.models import HubHost
from common.ops.version import package_version
from common.orm import utcnow
from common.settings import Settings

log = logging.getLogger("lianfu.hosts")

HEARTBEAT_SECONDS = 30.0
# A host not heard of for this long is shown as gone; rows older than RETENTION are not shown at all.
LIVE_WITHIN = timedelta(seconds=3 * HEARTBEAT_SECONDS)
RETENTION = timedelta(days=7)
# What `lianfu hub serve` tells its workers about the serving process as a whole.
SERVE_PID_ENV, SERVE_WORKERS_ENV, SERVE_STARTED_ENV = "LIANFU_SERVE_PID", "LIANFU_SERVE_WORKERS", "LIANFU_SERVE_STARTED"


def serving_process(settings: Settings) -> tuple[int, int, datetime]:
    """(pid, workers, started) of the `hub serve` this process works for (itself when run otherwise)."""
    pid_text, workers_text, started_text = settings.serve_process
    try:
        pid = int(pid_text or os.getpid())
        workers = max(1, int(workers_text or 1))
        started = datetime.fromisoformat(started_text) if started_text else utcnow()
    except ValueError:
        pid, workers, started = os.getpid(), 1, utcnow()
    return pid, workers, started


def beat(db: Database, settings: Settings, hostname: str | None = None) -> None:
    """Write this host's row (every worker of one host writes the same row: the last one wins, alike)."""
    hostname = hostname or socket.gethostname()
    pid, workers, started = serving_process(settings)
    now = utcnow()
    values = {"hostname": hostname[:255], "port": settings.port, "pid": pid, "workers": workers,
              "version": package_version()[:64], "started_at": started, "last_seen_at": now}
    build = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
    statement = build(HubHost.__table__).values(id=f"{hostname}:{settings.port}"[:300], **values)
    with db.transaction() as session:
        session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))


def mark_stopped(db: Database, settings: Settings, hostname: str | None = None) -> None:
    """On a clean stop: this host's row no longer counts as serving (last seen moved back past LIVE_WITHIN), so that
    `lianfu hub restore` need not wait for it to fall silent. Only the row of this serving process is touched."""
    hostname = hostname or socket.gethostname()
    pid, _, _ = serving_process(settings)
    gone = utcnow() - LIVE_WITHIN - timedelta(seconds=1)
    with db.transaction() as session:
        session.execute(update(HubHost).where(HubHost.id == f"{hostname}:{settings.port}"[:300], HubHost.pid == pid)
                        .values(last_seen_at=gone))


def live_hosts(db: Database) -> list[dict[str, object]]:
    """The hosts serving this database now (heard of within LIVE_WITHIN); none when the table is not there yet."""
    from sqlalchemy import inspect

    with db.engine.connect() as conn:
        if not inspect(conn).has_table(HubHost.__tablename__):
            return []
    return [host for host in recent_hosts(db) if host["live"]]


def recent_hosts(db: Database, now: datetime | None = None) -> list[dict[str, object]]:
    """Hosts seen within RETENTION, the most recently seen first, each marked live or not."""
    now = now or utcnow()
    with db.reads() as session:
        rows = session.scalars(select(HubHost).where(HubHost.last_seen_at >= now - RETENTION)
                               .order_by(HubHost.last_seen_at.desc())).all()
    found = []
    for row in rows:
        seen = row.last_seen_at if row.last_seen_at.tzinfo else row.last_seen_at.replace(tzinfo=timezone.utc)
        found.append({"host": row.hostname, "port": row.port, "pid": row.pid, "workers": row.workers,
                      "version": row.version, "started_at": row.started_at.isoformat(),
                      "last_seen_at": seen.isoformat(), "live": now - seen <= LIVE_WITHIN})
    return found


class Heartbeat:
    """A daemon thread that beats while the app runs; a database away only skips a beat (and says so)."""

    def __init__(self, db: Database, settings: Settings, interval: float = HEARTBEAT_SECONDS) -> None:
        self.db, self.settings, self.interval = db, settings, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        try:
            beat(self.db, self.settings)
        except Exception as exc:  # noqa: BLE001 - the next beat tries again
            log.warning("could not record this host in hub_host: %s", str(exc).splitlines()[0] if str(exc) else exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat()

    def start(self) -> None:
        self._beat()
        self._thread = threading.Thread(target=self._run, name="lianfu-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            mark_stopped(self.db, self.settings)
        except Exception as exc:  # noqa: BLE001 - the row falls silent on its own within LIVE_WITHIN
            log.warning("could not record this host's stop in hub_host: %s", str(exc).splitlines()[0] if str(exc) else exc)
