"""The JSON API of the office's own work on bulletins, mounted by the hub alone: spokes receive bulletins with their
sync and send acknowledgements back."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, delete, patch, post
from litestar.params import FromPath, JSONBody

from common import policy
from common.api.deps import Caller
from common.api.schemas import BulletinCreate, BulletinRemind, BulletinUpdate
from common.bulletins import service as bulletins
from common.bulletins.api import BulletinController
from common.models import Bulletin
from common.policy import Principal


def require_publisher(principal: Principal) -> None:
    policy.require_write(principal, "bulletin", "create")


class BulletinOfficeController(BulletinController):
    """The bulletins' API at the hub: what every node answers, and the office's writes. One controller, so each path
    is registered once (Litestar wraps a sync handler again each time another handler joins its path)."""

    @post("/", sync_to_thread=True)
    def create_bulletin(self, request: Request, principal: Caller, data: JSONBody[BulletinCreate]) -> dict[str, Any]:
        require_publisher(principal)
        with request.app.state.db.transaction(actor=principal) as session:
            return bulletins.bulletin_out(bulletins.create_bulletin(session, principal, data.to_dict()), principal)

    @patch("/{bulletin_id:uuid}", sync_to_thread=True)
    def update_bulletin(self, request: Request, principal: Caller, bulletin_id: FromPath[UUID], data: JSONBody[BulletinUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            policy.get_visible(session, Bulletin, bulletin_id, principal)
            require_publisher(principal)
            return bulletins.bulletin_out(bulletins.update_bulletin(session, principal, bulletin_id, data.to_dict()), principal)

    @delete("/{bulletin_id:uuid}", sync_to_thread=True, status_code=204)
    def delete_bulletin(self, request: Request, principal: Caller, bulletin_id: FromPath[UUID]) -> None:
        with request.app.state.db.transaction(actor=principal) as session:
            policy.get_visible(session, Bulletin, bulletin_id, principal)
            require_publisher(principal)
            bulletins.delete_bulletin(session, principal, bulletin_id)

    @post("/{bulletin_id:uuid}/remind", sync_to_thread=True,
          summary="Remind target nodes that have not acknowledged (office at the hub)")
    def remind(self, request: Request, principal: Caller, bulletin_id: FromPath[UUID],
               data: JSONBody[BulletinRemind | None] = None) -> dict[str, Any]:
        nodes = data.nodes if data is not None else []
        with request.app.state.db.transaction(actor=principal) as session:
            bulletin = policy.get_visible(session, Bulletin, bulletin_id, principal)
            require_publisher(principal)
            reminders = bulletins.remind(session, principal, bulletin.id, nodes)
            return {"bulletin_id": str(bulletin.id), "nodes": [r.node_id for r in reminders],
                    "at": reminders[0].at.isoformat()}
