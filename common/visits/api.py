"""The JSON API of safety visits."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.params import FromPath, FromQuery, JSONBody
from litestar import Controller, Request, delete, get, patch, post

from common import policy
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.api.schemas import VisitCreate, VisitUpdate
from common.models import Visit
from common.visits import service as visits


class VisitController(Controller):
    path = "/api/v1/visits"
    tags = ["visits"]

    @get("/", sync_to_thread=True, summary="List visits in scope")
    def list_visits(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                    enterprise_id: FromQuery[UUID | None] = None, kind: FromQuery[str | None] = None, node: FromQuery[str | None] = None) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            stmt = policy.scoped(Visit, principal)
            if enterprise_id:
                stmt = stmt.where(Visit.enterprise_id == enterprise_id)
            if kind:
                stmt = stmt.where(Visit.kind == kind)
            if node:
                stmt = stmt.where(Visit.node_id == node)
            stmt = stmt.order_by(Visit.visited_at.desc(), Visit.id.desc())
            return page(session, stmt, limit, offset, lambda v: visits.visit_out(v, principal))

    @post("/", sync_to_thread=True)
    def create_visit(self, request: Request, principal: Caller, data: JSONBody[VisitCreate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return visits.visit_out(visits.create_visit(session, principal, data.to_dict()), principal)

    @get("/{visit_id:uuid}", sync_to_thread=True)
    def get_visit(self, request: Request, principal: Caller, visit_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return visits.visit_out(policy.get_visible(session, Visit, visit_id, principal), principal)

    @patch("/{visit_id:uuid}", sync_to_thread=True)
    def update_visit(self, request: Request, principal: Caller, visit_id: FromPath[UUID], data: JSONBody[VisitUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return visits.visit_out(visits.update_visit(session, principal, visit_id, data.to_dict()), principal)

    @delete("/{visit_id:uuid}", sync_to_thread=True, status_code=204)
    def delete_visit(self, request: Request, principal: Caller, visit_id: FromPath[UUID]) -> None:
        with request.app.state.db.transaction(actor=principal) as session:
            visits.delete_visit(session, principal, visit_id)
