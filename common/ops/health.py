"""/healthz and /readyz: whether this node can reach its database, and whether its schema is the code's.

Each check is one cheap query in a worker thread, waited for HEALTH_TIMEOUT seconds at most: a database that hangs
(a network cut) answers 503 as one that refuses does. A thread still waiting on a hung database is left to finish on
its own; no more than a few are ever left so, the rest answer 503 at once.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import anyio
from litestar import Request, Response, get
from sqlalchemy import text

from common.db import Database

log = logging.getLogger("lianfu.health")

HEALTH_TIMEOUT = 3.0
_WAITING = threading.BoundedSemaphore(4)


class Unreachable(Exception):
    """The database did not answer (the reason is logged, not shown)."""


def _ping(db: Database) -> None:
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _revisions(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        has_table = conn.dialect.has_table(conn, "alembic_version")
        if not has_table:
            return set()
        return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


async def _bounded(check: Callable[[Database], Any], db: Database) -> Any:
    """`check(db)` in a thread, or Unreachable when it fails or takes longer than HEALTH_TIMEOUT."""
    if not _WAITING.acquire(blocking=False):
        raise Unreachable("earlier checks are still waiting for the database")

    def run() -> Any:
        try:
            return check(db)
        finally:
            _WAITING.release()

    outcome: list[Any] = []
    try:
        with anyio.move_on_after(HEALTH_TIMEOUT):
            outcome.append(await anyio.to_thread.run_sync(run, abandon_on_cancel=True))
    except Exception as exc:  # noqa: BLE001 - any failure to answer is "unreachable"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("database check failed: %s", reason[:300])
        raise Unreachable(reason) from None
    if not outcome:
        log.warning("database check took longer than %.0f s", HEALTH_TIMEOUT)
        raise Unreachable("timed out")
    return outcome[0]


def _answer(body: dict[str, Any], ok: bool) -> Response[dict[str, Any]]:
    return Response(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})


async def _no_login(_request: Request[Any, Any, Any]) -> None:
    """Health and readiness are asked by load balancers and monitors, with no session to look up (and none worth a 500
    when the database is down): whoever asks, the answer is the same."""
    return None


async def _token_only(request: Request[Any, Any, Any]) -> Any:
    """A probe's session is not looked up (see `_no_login`); a bearer token sent along is checked as on every other
    path, so a client's revoked token is refused here too."""
    if request.headers.get("authorization", "")[:7].lower() == "bearer ":
        from common.web.auth import before_request

        return await before_request(request)
    return None


@get("/healthz", tags=["ops"], before_request=_token_only,
     summary="Liveness: this node and whether its database answers")
async def healthz(request: Request) -> Response[dict[str, Any]]:
    from common.ops.version import package_version

    state = request.app.state
    body: dict[str, Any] = {"role": state.settings.role, "node": state.settings.node_id, "version": package_version(),
                            "database": state.db.dialect}
    try:
        await _bounded(_ping, state.db)
    except Unreachable:
        return _answer({"status": "unavailable", "db": "unreachable", **body}, ok=False)
    # CONTRACT.md: a healthy node names its database's kind in `db`; one that cannot reach it says "unreachable".
    return _answer({"status": "ok", "db": state.db.dialect, **body}, ok=True)


@get("/readyz", tags=["ops"], before_request=_no_login,
     summary="Readiness: the database answers and its schema is the revision this release expects")
async def readyz(request: Request) -> Response[dict[str, Any]]:
    from common.ops.version import schema_head

    state = request.app.state
    expected = schema_head()
    try:
        found = await _bounded(_revisions, state.db)
    except Unreachable:
        return _answer({"status": "unavailable", "db": "unreachable", "schema": None, "expected": expected}, ok=False)
    current = ",".join(sorted(found)) or None
    ready = found == {expected}
    return _answer({"status": "ready" if ready else "not ready", "db": state.db.dialect, "schema": current,
                    "expected": expected},
                   ok=ready)


OPS_HANDLERS = [healthz, readyz]
