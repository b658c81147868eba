"""The spoke's sync page: how this node stands with the hub, and a button that syncs now with its progress shown."""
from __future__ import annotations

import threading
import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotAuthorizedException

from common.web.templating import render
from sync.client import SpokeSync
from sync.client import status


class SyncProgress:
    """The round started from the page, as the page polls it: phase, counts, and the outcome once done."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = False
        self.phase = ""
        self.counts: dict[str, int] = {}
        self.outcome: dict[str, Any] | None = None
        self.started = 0.0

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"running": self.running, "phase": self.phase, "counts": dict(self.counts),
                    "outcome": self.outcome, "seconds": round(time.monotonic() - self.started, 1) if self.started else 0}


def _person(request: Request[Any, Any, Any]) -> Any:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise NotAuthorizedException()
    return principal


def _progress(request: Request[Any, Any, Any]) -> SyncProgress:
    state = request.app.state
    if getattr(state, "sync_progress", None) is None:
        state.sync_progress = SyncProgress()
    return state.sync_progress


@get("/sync", include_in_schema=False, sync_to_thread=True)
def sync_page(request: Request) -> Response[str]:
    _person(request)
    return render(request, "sync/spoke.html", {"status": status(request.app.state.db),
                                               "progress": _progress(request).snapshot()})


@post("/sync/run", include_in_schema=False, sync_to_thread=True)
def run_now(request: Request) -> Response[str]:
    _person(request)
    state = request.app.state
    progress = _progress(request)
    with progress.lock:
        if not progress.running:
            progress.running, progress.phase, progress.counts, progress.outcome = True, "push", {}, None
            progress.started = time.monotonic()
            threading.Thread(target=_round, args=(state, progress), name="lianfu-sync-now", daemon=True).start()
    return render(request, "sync/_progress.html", {"progress": progress.snapshot()})


@get("/sync/progress", include_in_schema=False, sync_to_thread=True)
def progress_fragment(request: Request) -> Response[str]:
    _person(request)
    snapshot = _progress(request).snapshot()
    context: dict[str, Any] = {"progress": snapshot}
    if snapshot["outcome"] is not None:
        context["status"] = status(request.app.state.db)  # the status panel is refreshed along with the outcome
    return render(request, "sync/_progress.html", context)


def _round(state: Any, progress: SyncProgress) -> None:
    def report(phase: str, done: int, total: int | None) -> None:
        with progress.lock:
            progress.phase = phase
            progress.counts[phase] = done

    try:
        # A scheduled round under way is waited for, then this one runs: the person asked for a sync now.
        result = SpokeSync.for_settings(state.db, state.settings, state.hub_link, report).round(wait=120)
        outcome = {"ok": result.ok, "pushed": result.pushed, "pulled": result.pulled, "conflicts": result.conflicts,
                   "rejected": len(result.rejected), "error": result.error, "seconds": round(result.seconds, 1)}
    except Exception as exc:  # noqa: BLE001 - the page must learn that the round ended, however it ended
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "pushed": 0, "pulled": 0, "conflicts": 0,
                   "rejected": 0, "seconds": 0}
    with progress.lock:
        progress.running, progress.phase, progress.outcome = False, "done", outcome


SPOKE_SYNC_HANDLERS = [sync_page, run_now, progress_fragment]
