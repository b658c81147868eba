"""Prometheus metrics at /metrics, from prometheus-client.

Counters and histograms count in the process that saw the event; with several workers (`lianfu hub serve --workers
N`) they are kept in prometheus-client's multiprocess mode, in files under `<data dir>/metrics`
(PROMETHEUS_MULTIPROC_DIR, which `serve` sets and empties before its workers start), and a scrape of any worker adds
them all up. Backlogs, open conflicts, the spokes' last rounds and the jobs' last runs are read from the database at
scrape time (DatabaseCollector), so every worker and every host answers the same for them.

Who may scrape: a client on loopback (after X-Forwarded-For is resolved: a request that came through a proxy is the
proxy's client's), or one sending `Authorization: Bearer <LIANFU_METRICS_TOKEN>`. Anyone else gets 404.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from datetime import datetime, timezone
from typing import Any, Iterator

import anyio
from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Float, column, func, select, table

from common import i18n
from common.db import Database
from common.i18n import N_

log = logging.getLogger("lianfu.metrics")

from common.ops.metrics_dir import MULTIPROC_ENV

REQUESTS = Counter("lianfu_http_requests", "HTTP requests answered, by method, route template and status.",
                   ["method", "route", "status"])
LATENCY = Histogram("lianfu_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
                    ["method", "route", "status"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
SYNC_CALLS = Counter("lianfu_sync_calls", "Sync calls the hub answered, by spoke node and kind (push, pull, digest, "
                     "drops, ids, report).", ["node", "kind"])
SYNC_ROUNDS = Counter("lianfu_sync_rounds", "Sync rounds that ended at the hub, by spoke node and outcome "
                      "(completed, mismatched: the digests differed, failed: the spoke reported an error).",
                      ["node", "outcome"])
SYNC_ROWS = Counter("lianfu_sync_rows", "Rows moved by sync, by spoke node and direction (pushed to the hub, "
                    "pulled from it).", ["node", "direction"])
JOB_RUNS = Counter("lianfu_job_runs", "Scheduled job runs in this hub's processes, by job and outcome (ok, failed).",
                   ["job", "outcome"])

# Route label of a request no route matched (any path a client invents would be a new series).
NO_ROUTE = "(no route)"


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    labels = (method, route, str(status))
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(seconds)


def note_sync_call(node: str, kind: str, pushed: int = 0, pulled: int = 0, round_outcome: str | None = None) -> None:
    """One sync call answered for `node`: its rows, and the round it ended if it ended one."""
    SYNC_CALLS.labels(node, kind).inc()
    if pushed:
        SYNC_ROWS.labels(node, "pushed").inc(pushed)
    if pulled:
        SYNC_ROWS.labels(node, "pulled").inc(pulled)
    if round_outcome is not None:
        SYNC_ROUNDS.labels(node, round_outcome).inc()


def note_job_run(job: str, failed: bool) -> None:
    JOB_RUNS.labels(job, "failed" if failed else "ok").inc()


# The sync engine's tables (sync/models.py), named here without importing sync/: common/ depends on nothing above it.
SYNC_OUTBOX = table("sync_outbox", column("seq"))
SYNC_CONFLICT = table("sync_conflict", column("node_id"), column("status"))
SYNC_PEER = table("sync_peer", column("node_id"), column("last_success_at", DateTimeUTC(timezone=True)),
                  column("queued"), column("lag_seconds", Float))


def _seconds(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class DatabaseCollector(Collector):
    """What the database holds, read at each scrape: right whichever worker or host is asked."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("lianfu_database_up", "Whether the scrape could read the database (1) or not (0).")
        try:
            families = list(self._read())
        except Exception as exc:  # noqa: BLE001 - a scrape says the database is away rather than failing
            log.warning("metrics could not read the database: %s", str(exc).splitlines()[0] if str(exc) else exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> Iterator[Any]:
        from common.notify.models import Delivery, JobRun

        with self.db.reads() as session:
            outbox = GaugeMetricFamily("lianfu_sync_outbox_backlog",
                                       "Local changes a spoke has not had acknowledged by its hub yet.")
            outbox.add_metric([], session.scalar(select(func.count()).select_from(SYNC_OUTBOX)) or 0)

            deliveries = GaugeMetricFamily("lianfu_notify_delivery_backlog",
                                           "Messages to WeCom robots and mailboxes not sent (pending, failed: to be "
                                           "retried, dead: given up), by channel and status.",
                                           labels=["channel", "status"])
            for channel, status, count in session.execute(
                    select(Delivery.channel, Delivery.status, func.count()).where(Delivery.status != "sent")
                    .group_by(Delivery.channel, Delivery.status)):
                deliveries.add_metric([channel, status], count)

            conflicts = GaugeMetricFamily("lianfu_sync_conflicts_open", "Sync conflicts awaiting the office, by the "
                                          "node whose row it is.", labels=["node"])
            for node, count in session.execute(select(SYNC_CONFLICT.c.node_id, func.count())
                                               .where(SYNC_CONFLICT.c.status == "open")
                                               .group_by(SYNC_CONFLICT.c.node_id)):
                conflicts.add_metric([node], count)

            success = GaugeMetricFamily("lianfu_sync_peer_last_success_timestamp_seconds",
                                        "When each spoke last completed a round with the hub (Unix time).",
                                        labels=["node"])
            queued = GaugeMetricFamily("lianfu_sync_peer_queued", "Changes each spoke reported still queued.",
                                       labels=["node"])
            lag = GaugeMetricFamily("lianfu_sync_peer_lag_seconds", "Age of each spoke's oldest unsent change, as "
                                    "it reported it.", labels=["node"])
            for peer in session.execute(select(SYNC_PEER)):
                if (when := _seconds(peer.last_success_at)) is not None:
                    success.add_metric([peer.node_id], when)
                queued.add_metric([peer.node_id], peer.queued or 0)
                lag.add_metric([peer.node_id], peer.lag_seconds or 0.0)

            finished = GaugeMetricFamily("lianfu_job_last_finished_timestamp_seconds",
                                         "When each scheduled job last finished a run (Unix time).", labels=["job"])
            next_run = GaugeMetricFamily("lianfu_job_next_run_timestamp_seconds",
                                         "When each scheduled job runs next (Unix time).", labels=["job"])
            failed = GaugeMetricFamily("lianfu_job_last_run_failed",
                                       "Whether each scheduled job's last run failed (1) or not (0).", labels=["job"])
            runs = CounterMetricFamily("lianfu_job_recorded_runs", "Runs of each scheduled job, as its record in the "
                                       "database counts them (every host).", labels=["job"])
            for row in session.scalars(select(JobRun)):
                if (when := _seconds(row.last_finished_at)) is not None:
                    finished.add_metric([row.name], when)
                if (when := _seconds(row.next_run_at)) is not None:
                    next_run.add_metric([row.name], when)
                failed.add_metric([row.name], 1 if row.last_error else 0)
                runs.add_metric([row.name], row.runs or 0)
        yield from (outbox, deliveries, conflicts, success, queued, lag, finished, next_run, failed, runs)


class _ProcessMetrics(Collector):
    """This process's own counters (one worker, no multiprocess directory), with the client's process metrics."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def exposition(db: Database) -> bytes:
    """The text a scrape gets: the counters of every worker, then what the database says."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    registry.register(DatabaseCollector(db))
    return generate_latest(registry)


# --- who may scrape ------------------------------------------------------------------------------------------------

def _loopback(text: str) -> bool:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def _forwarded_hops(request: Request[Any, Any, Any]) -> list[str]:
    hops: list[str] = []
    for name in ("x-forwarded-for", "x-real-ip"):
        for value in request.headers.getall(name, []):
            hops.extend(hop for hop in value.split(",") if hop.strip())
    return hops


def from_loopback(request: Request[Any, Any, Any]) -> bool:
    """The client (as LIANFU_TRUSTED_PROXIES resolved it) is on this machine, and no proxy forwarded it for anyone
    else: nginx on the same host is a loopback peer, so what it says it forwarded counts too."""
    client = request.client.host if request.client else ""
    return _loopback(client) and all(_loopback(hop) for hop in _forwarded_hops(request))


def presented_token(request: Request[Any, Any, Any]) -> str | None:
    authorization = request.headers.get("authorization", "")
    return authorization[7:].strip() if authorization[:7].lower() == "bearer " else None


def token_matches(presented: str | None, expected: str) -> bool:
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def _record_refused(db: Database, node_id: str, address: str, path: str) -> None:
    from common.audit import trail as audit

    with db.transaction() as session:
        audit.record(session, node_id, "metrics.refused", actor="", entity_type="metrics", address=address[:64],
                     detail={"reason": "wrong token", "path": path})


async def _no_login(_request: Request[Any, Any, Any]) -> None:
    """The metrics token is not an OAuth access token: no session or bearer check here (the handler decides)."""
    return None


@get("/metrics", include_in_schema=False, before_request=_no_login)
async def metrics(request: Request) -> Response[bytes]:
    state = request.app.state
    settings = state.settings
    presented = presented_token(request)
    if not (token_matches(presented, settings.metrics_token) or (presented is None and from_loopback(request))):
        if presented is not None:
            address = request.client.host if request.client else ""
            await anyio.to_thread.run_sync(_record_refused, state.db, settings.node_id, address, request.url.path)
        raise NotFoundException(i18n.gettext(N_("Not found")))
    body = await anyio.to_thread.run_sync(exposition, state.db)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
