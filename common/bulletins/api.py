"""The JSON API of bulletins and their acknowledgements."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.params import FromPath, FromQuery, JSONBody
from litestar import Controller, Request, delete, get, patch, post
from sqlalchemy import select

from common import policy
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.api.schemas import BulletinCreate, BulletinRemind, BulletinUpdate
from common.errors import Forbidden
from common.i18n import N_
from common.models import Bulletin, BulletinAck
from common.policy import Principal
from common.bulletins import service as bulletins


def require_hub(request: Request, principal: Principal) -> None:
    """Bulletins are written by the office at the hub only: a spoke receives them and sends acknowledgements back."""
    policy.require_write(principal, "bulletin", "create")
    if request.app.state.settings.role != "hub":
        raise Forbidden(N_("Bulletins are published by the office at the hub."))


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

    @post("/", sync_to_thread=True)
    def create_bulletin(self, request: Request, principal: Caller, data: JSONBody[BulletinCreate]) -> dict[str, Any]:
        require_hub(request, principal)
        with request.app.state.db.transaction() as session:
            return bulletins.bulletin_out(bulletins.create_bulletin(session, principal, data.to_dict()), principal)

    @get("/{bulletin_id:uuid}", sync_to_thread=True)
    def get_bulletin(self, request: Request, principal: Caller, bulletin_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            bulletin = policy.get_visible(session, Bulletin, bulletin_id, principal)
            # The office follows who acknowledged; a node sees only whether it did.
            audience = bulletins.audience_status(session, bulletin.id) if principal.is_office else None
            return bulletins.bulletin_out(bulletin, principal, audience=audience)

    @patch("/{bulletin_id:uuid}", sync_to_thread=True)
    def update_bulletin(self, request: Request, principal: Caller, bulletin_id: FromPath[UUID], data: JSONBody[BulletinUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction() as session:
            policy.get_visible(session, Bulletin, bulletin_id, principal)
            require_hub(request, principal)
            return bulletins.bulletin_out(bulletins.update_bulletin(session, principal, bulletin_id, data.to_dict()), principal)

    @delete("/{bulletin_id:uuid}", sync_to_thread=True, status_code=204)
    def delete_bulletin(self, request: Request, principal: Caller, bulletin_id: FromPath[UUID]) -> None:
        with request.app.state.db.transaction() as session:
            policy.get_visible(session, Bulletin, bulletin_id, principal)
            require_hub(request, principal)
            bulletins.delete_bulletin(session, principal, bulletin_id)

    @post("/{bulletin_id:uuid}/ack", sync_to_thread=True, summary="Acknowledge a bulletin for the caller's node")
    def acknowledge(self, request: Request, principal: Caller, bulletin_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.transaction() as session:
            ack = bulletins.acknowledge(session, principal, bulletin_id)
            return {"bulletin_id": str(ack.bulletin_id), "node": ack.node_id, "at": ack.at.isoformat()}

    @post("/{bulletin_id:uuid}/remind", sync_to_thread=True,
          summary="Remind target nodes that have not acknowledged (office at the hub)")
    def remind(self, request: Request, principal: Caller, bulletin_id: FromPath[UUID],
               data: JSONBody[BulletinRemind | None] = None) -> dict[str, Any]:
        nodes = data.nodes if data is not None else []
        with request.app.state.db.transaction() as session:
            bulletin = policy.get_visible(session, Bulletin, bulletin_id, principal)
            require_hub(request, principal)
            reminders = bulletins.remind(session, principal, bulletin.id, nodes)
            return {"bulletin_id": str(bulletin.id), "nodes": [r.node_id for r in reminders],
                    "at": reminders[0].at.isoformat()}
