"""/api/v1/cases and their timeline /api/v1/cases/{id}/events."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.params import FromPath, FromQuery, JSONBody
from litestar import Controller, Request, get, patch, post
from sqlalchemy import select

from common import policy
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.api.schemas import CaseCreate, CaseEventCreate, CaseUpdate, RevealRequest
from common.models import Case, CaseUnit
from common.cases import service as cases
from common.roster import reveal
from common.roster.api import look_in_full

class CaseController(Controller):
    path = "/api/v1/cases"
    tags = ["cases"]

    @get("/", sync_to_thread=True, summary="List, search and filter cases in scope")
    def list_cases(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                   q: FromQuery[str | None] = None, status: FromQuery[str | None] = None, category: FromQuery[str | None] = None,
                   urgency: FromQuery[str | None] = None, node: FromQuery[str | None] = None, enterprise_id: FromQuery[UUID | None] = None,
                   unit: FromQuery[str | None] = None, emergency: FromQuery[bool | None] = None) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            stmt = policy.scoped(Case, principal)
            stmt = cases.search_cases(stmt, q)
            for column, value in ((Case.status, status), (Case.category, category), (Case.urgency, urgency),
                                  (Case.node_id, node), (Case.enterprise_id, enterprise_id)):
                if value:
                    stmt = stmt.where(column == value)
            if unit:
                stmt = stmt.where(Case.id.in_(select(CaseUnit.case_id).where(CaseUnit.unit_id == unit)))
            if emergency is not None:
                stmt = stmt.where(Case.emergency.is_(emergency))
            return page(session, stmt.order_by(Case.id.desc()), limit, offset, lambda c: cases.case_out(c, principal))

    @post("/", sync_to_thread=True, summary="Raise a request or record a police report")
    def create_case(self, request: Request, principal: Caller, data: JSONBody[CaseCreate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return cases.case_out(cases.create_case(session, principal, data.to_dict()), principal)

    @get("/{case_id:uuid}", sync_to_thread=True)
    def get_case(self, request: Request, principal: Caller, case_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return cases.case_out(policy.get_visible(session, Case, case_id, principal), principal)

    @patch("/{case_id:uuid}", sync_to_thread=True, summary="Correct a case's description (office)")
    def update_case(self, request: Request, principal: Caller, case_id: FromPath[UUID], data: JSONBody[CaseUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return cases.case_out(cases.update_case(session, principal, case_id, data.to_dict()), principal)

    @get("/{case_id:uuid}/events", sync_to_thread=True, summary="The case's timeline")
    def list_events(self, request: Request, principal: Caller, case_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            case = policy.get_visible(session, Case, case_id, principal)
            events = cases.timeline(session, case.id)
            return {"items": [cases.event_out(e) for e in events], "status": case.status}

    @post("/{case_id:uuid}/events", sync_to_thread=True, summary="Record a step of the case's handling")
    def add_event(self, request: Request, principal: Caller, case_id: FromPath[UUID], data: JSONBody[CaseEventCreate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            event = cases.add_case_event(session, principal, case_id, data.to_dict())
            case = session.get(Case, case_id)
            return {**cases.event_out(event), "case_status": case.status if case else None}

    @post("/{case_id:uuid}/reveal", sync_to_thread=True, status_code=200,
          summary="The hotline caller's phone in full, asked for with a reason and recorded (office, liaison)")
    def reveal_caller(self, request: Request, principal: Caller, case_id: FromPath[UUID],
                      data: JSONBody[RevealRequest]) -> dict[str, Any]:
        return look_in_full(request, principal, data, reveal.reveal_caller, case_id)
