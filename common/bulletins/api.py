"""The JSON API of bulletins and their acknowledgements."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.params import FromPath, FromQuery
from litestar import Controller, Request, get, post
from sqlalchemy import select

from common import policy
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.models import Bulletin, BulletinAck
from common.bulletins import service as bulletins


class BulletinController(Controller):
    path = "/api/v1/bulletins"
    tags = ["bulletins"]

    @get("/", sync_to_thread=True, summary="Bulletins addressed to the caller (all of them for the office)")
    def list_bulletins(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                       kind: FromQuery[str | None] = None, q: FromQuery[str | None] = None) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            stmt = policy.scoped(Bulletin, principal)
            if kind:
                stmt = stmt.where(Bulletin.kind == kind)
            if q and q.strip():
                stmt = stmt.where(Bulletin.title.contains(q.strip(), autoescape=True))
            acked = set(session.scalars(select(BulletinAck.bulletin_id).where(BulletinAck.node_id == principal.node_id)))
            stmt = stmt.order_by(Bulletin.id.desc())
            return page(session, stmt, limit, offset, lambda b: bulletins.bulletin_out(b, principal, b.id in acked))

    @get("/{bulletin_id:uuid}", sync_to_thread=True)
    def get_bulletin(self, request: Request, principal: Caller, bulletin_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            bulletin = policy.get_visible(session, Bulletin, bulletin_id, principal)
            # The office follows who acknowledged; a node sees only whether it did.
            audience = bulletins.audience_status(session, bulletin.id) if principal.is_office else None
            return bulletins.bulletin_out(bulletin, principal, audience=audience)

    @post("/{bulletin_id:uuid}/ack", sync_to_thread=True, summary="Acknowledge a bulletin for the caller's node")
    def acknowledge(self, request: Request, principal: Caller, bulletin_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            ack = bulletins.acknowledge(session, principal, bulletin_id)
            return {"bulletin_id": str(ack.bulletin_id), "node": ack.node_id, "at": ack.at.isoformat()}
