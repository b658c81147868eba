"""/api/v1/applications and /api/v1/nodes as every node answers them; the office's decisions and node changes are
in office_api.py, mounted by the hub alone."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.params import FromPath, FromQuery, JSONBody
from litestar import Controller, Request, get, patch, post

from common import policy
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.api.schemas import ApplicationCreate, ApplicationUpdate, RevealRequest
from common.models import Node, NodeApplication
from common.federation import service as federation
from common.roster import reveal
from common.roster.api import look_in_full
from common.federation import units


class ApplicationController(Controller):
    path = "/api/v1/applications"
    tags = ["federation"]

    @get("/", sync_to_thread=True)
    def list_applications(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                          status: FromQuery[str | None] = None, kind: FromQuery[str | None] = None, q: FromQuery[str | None] = None) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            stmt = policy.scoped(NodeApplication, principal)
            if status:
                stmt = stmt.where(NodeApplication.status == status)
            if kind:
                stmt = stmt.where(NodeApplication.kind == kind)
            if q and q.strip():
                stmt = stmt.where(NodeApplication.name.contains(q.strip(), autoescape=True))
            stmt = stmt.order_by(NodeApplication.id.desc())
            return page(session, stmt, limit, offset, lambda a: federation.application_out(a, principal))

    @post("/", sync_to_thread=True)
    def create_application(self, request: Request, principal: Caller, data: JSONBody[ApplicationCreate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return federation.application_out(federation.create_application(session, principal, data.to_dict()), principal)

    @get("/{application_id:uuid}", sync_to_thread=True)
    def get_application(self, request: Request, principal: Caller, application_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return federation.application_out(policy.get_visible(session, NodeApplication, application_id, principal), principal)

    @patch("/{application_id:uuid}", sync_to_thread=True, summary="Edit (and so resubmit) an application")
    def update_application(self, request: Request, principal: Caller, application_id: FromPath[UUID],
                           data: JSONBody[ApplicationUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            application = federation.update_application(session, principal, application_id, data.to_dict())
            return federation.application_out(application, principal)

    @post("/{application_id:uuid}/reveal", sync_to_thread=True, status_code=200,
          summary="The proposed head's phone in full, asked for with a reason and recorded (office, liaison)")
    def reveal_head(self, request: Request, principal: Caller, application_id: FromPath[UUID],
                    data: JSONBody[RevealRequest]) -> dict[str, Any]:
        return look_in_full(request, principal, data, reveal.reveal_head, application_id)


class NodeController(Controller):
    path = "/api/v1/nodes"
    tags = ["federation"]

    @get("/", sync_to_thread=True)
    def list_nodes(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                   kind: FromQuery[str | None] = None, status: FromQuery[str | None] = None, parent: FromQuery[str | None] = None,
                   q: FromQuery[str | None] = None) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            stmt = policy.scoped(Node, principal)
            if kind:
                stmt = stmt.where(Node.kind == kind)
            if status:
                stmt = stmt.where(Node.status == status)
            if parent:
                stmt = stmt.where(Node.parent_id == parent)
            if q and q.strip():
                stmt = stmt.where(Node.name.contains(q.strip(), autoescape=True) | Node.id.contains(q.strip(), autoescape=True))
            return page(session, stmt.order_by(Node.path), limit, offset, lambda n: federation.node_out(n, principal))

    @get("/{node_id:str}", sync_to_thread=True)
    def get_node(self, request: Request, principal: Caller, node_id: FromPath[str]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return federation.node_out(policy.get_visible(session, Node, node_id, principal), principal)


class UnitController(Controller):
    path = "/api/v1/units"
    tags = ["federation"]

    @get("/", sync_to_thread=True, summary="The police units in their order (the office may ask for deactivated ones too)")
    def list_units(self, request: Request, principal: Caller, limit: LimitQ = 200, offset: OffsetQ = 0,
                   include_inactive: FromQuery[bool] = False) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return page(session, units.units_stmt(principal, include_inactive), limit, offset,
                        lambda u: units.unit_out(u, principal.is_office))
