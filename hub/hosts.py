"""Each serving hub says it is alive: its row in `hub_host` (hostname:port, pid, workers, version, started, last
seen), written when it starts and every HEARTBEAT_SECONDS after, for `lianfu hub status`."""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
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


def serving_process() -> tuple[int, int, datetime]:
    """(pid, workers, started) of the `hub serve` this process works for (itself when run otherwise)."""
    env = os.environ
    try:
        pid = int(env.get(SERVE_PID_ENV) or os.getpid())
        workers = max(1, int(env.get(SERVE_WORKERS_ENV) or 1))
        started = datetime.fromisoformat(env[SERVE_STARTED_ENV]) if env.get(SERVE_STARTED_ENV) else utcnow()
    except ValueError:
        pid, workers, started = os.getpid(), 1, utcnow()
    return pid, workers, started


def beat(db: Database, settings: Settings, hostname: str | None = None) -> None:
    """Write this host's row (every worker of one host writes the same row: the last one wins, alike)."""
    hostname = hostname or socket.gethostname()
    pid, workers, started = serving_process()
    now = utcnow()
    values = {"hostname": hostname[:255], "port": settings.port, "pid": pid, "workers": workers,
              "version": package_version()[:64], "started_at": started, "last_seen_at": now}
    build = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
    statement = build(HubHost.__table__).values(id=f"{hostname}:{settings.port}"[:300], **values)
    with db.transaction() as session:
        session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))


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
