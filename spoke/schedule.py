"""The spoke's scheduled work with the hub: one job, fixed id, never two at once, backing off while the hub is away."""
from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from common.ops.metrics import note_sync_call
from common.db import Database
from common.settings import Settings
from spoke.login import base_url_of
from spoke.standing import learn_if_node_refused
from sync.client import RoundResult, SpokeSync
from sync.hub_link import HubLink, HubRefused, HubUnreachable

log = logging.getLogger("lianfu.spoke")
JOB_ID = "lianfu-sync"
MAX_BACKOFF = 600.0


class SpokeSchedule:
    def __init__(self, db: Database, settings: Settings, link: HubLink, enabled: bool, interval: float | None = None) -> None:
        self.db = db
        self.settings = settings
        self.link = link
        self.enabled = enabled
        self.interval = interval or settings.sync.interval_seconds
        self.failures = 0
        self.last_error: str | None = None
        self.last_success: datetime | None = None
        self._running = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self._introduced_at: float | None = None  # when the hub last heard this spoke's address (monotonic)
        self.directory_refresh = settings.sync.directory_refresh_seconds

    def start(self) -> None:
        if not self.enabled:
            return
        for name in ("apscheduler", "httpx"):
            logging.getLogger(name).setLevel(logging.WARNING)  # one line per round is noise on a spoke's log
        self._scheduler = BackgroundScheduler(timezone=timezone.utc, job_defaults={"coalesce": True, "max_instances": 1})
        self._scheduler.add_job(self.tick, "date", run_date=datetime.now(timezone.utc), id=JOB_ID)
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    def tick(self) -> None:
        """One round, then the next one planned: the interval with jitter, or a capped backoff after a failure."""
        try:
            self.round()
        finally:
            if self._scheduler is not None:
                self._scheduler.add_job(self.tick, "date", id=JOB_ID, replace_existing=True,
                                        run_date=datetime.now(timezone.utc) + timedelta(seconds=self.next_delay()))

    def next_delay(self) -> float:
        if self.failures == 0:
            return self.interval * random.uniform(0.8, 1.2)
        return min(MAX_BACKOFF, self.interval * (2 ** min(self.failures, 10))) * random.uniform(0.5, 1.0)

    def round(self) -> RoundResult | None:
        """A sync round, never two at once; before it, when due, say where this spoke lives and take the hub's
        published metadata and keys again (the round itself takes the directory again when the hub's tag of it
        changed: a quiet round is one request)."""
        if not self._running.acquire(blocking=False):
            return None
        try:
            try:
                self._introduce()
            except (HubUnreachable, HubRefused) as exc:
                result = RoundResult(error=str(exc))
            else:
                result = SpokeSync.for_settings(self.db, self.settings, self.link).round()
            # This spoke's own rounds, counted as the hub counts its spokes' (by node: here, this one).
            note_sync_call(self.settings.node_id, "round", pushed=result.pushed, pulled=result.pulled,
                           round_outcome="completed" if result.ok else "failed")
            if result.ok:
                self.failures, self.last_error = 0, None
                self.last_success = datetime.now(timezone.utc)
            else:
                self.failures += 1
                self.last_error = result.error
                learn_if_node_refused(self.db, self.settings, self.link)
                log.warning("sync with the hub failed (%s in a row): %s", self.failures, result.error)
            return result
        finally:
            self._running.release()

    def _introduce(self) -> None:
        """This spoke's address registered with the hub (its login callback), the hub's metadata and keys taken
        again: at the first round, when the address changes, and every `directory_refresh` seconds (a key the hub
        rotated in between is fetched when a token names it: HubLink.key_for)."""
        base = base_url_of(self.settings)
        now = time.monotonic()
        if getattr(self.link, "registered_base_url", None) == base and self._introduced_at is not None and \
                now - self._introduced_at < self.directory_refresh:
            return
        self.link.call("PUT", "/api/v1/sync/address", json={"base_url": base})
        self.link.registered_base_url = base  # type: ignore[attr-defined]
        self.link.metadata(refresh=True)
        self.link.jwks(refresh=True)
        self._introduced_at = now

