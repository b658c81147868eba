"""The hub's sync page: every node's sync health, and the conflicts the office reviews and resolves."""
from __future__ import annotations

from typing import Any

import anyio
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.params import FromPath
from sqlalchemy import func, select

from common.federation.names import node_names
from common.models import Node, SyncConflict, SyncPeer, utcnow
from common.web.auth import require_office_principal
from common.web.htmx import redirect
from common.web.templating import render
from sync.hub import resolve_conflict


def _age(moment: Any) -> float | None:
    if moment is None:
        return None
    return max(0.0, (utcnow() - (moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo))).total_seconds())


@get("/sync", include_in_schema=False, sync_to_thread=True)
def sync_page(request: Request) -> Response[str]:
    require_office_principal(request)
    with request.app.state.db.reads() as session:
        nodes = session.scalars(select(Node).where(Node.kind != "hub").order_by(Node.path)).all()
        peers = {p.node_id: p for p in session.scalars(select(SyncPeer))}
        open_by_node = dict(session.execute(select(SyncConflict.node_id, func.count()).where(SyncConflict.status == "open")
                                            .group_by(SyncConflict.node_id)).all())
        conflicts = session.scalars(select(SyncConflict).where(SyncConflict.status == "open")
                                    .order_by(SyncConflict.created_at.desc()).limit(200)).all()
        names = node_names(session)  # the hub's own writes too, in a conflict's "applied" or "other" side
    rows = []
    for node in nodes:
        peer = peers.get(node.id)
        rows.append({"node": node, "peer": peer, "open": open_by_node.get(node.id, 0),
                     "since_success": _age(peer.last_success_at) if peer else None,
                     "failing": bool(peer and peer.last_error_at and (not peer.last_success_at or
                                                                      peer.last_error_at > peer.last_success_at))})
    return render(request, "sync/hub.html", {"rows": rows, "conflicts": conflicts, "names": names})


@post("/sync/conflicts/{conflict_id:uuid}", include_in_schema=False, name="sync:resolve")
async def resolve(request: Request, conflict_id: FromPath[UUID]) -> Response[Any]:
    principal = require_office_principal(request)
    form = await request.form()
    decision, merged = str(form.get("decision") or ""), str(form.get("value") or "")

    def work() -> None:
        with request.app.state.db.transaction(actor=principal) as session:
            resolve_conflict(session, principal, conflict_id, decision, merged)

    await anyio.to_thread.run_sync(work)
    return redirect(request, "/sync#conflicts")


SYNC_PAGE_HANDLERS = [sync_page, resolve]
