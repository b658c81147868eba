"""The JSON API of risk information, on every node; the office's review is mounted by the hub alone (office.py)."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import UNSET, UnsetType

from common import policy
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.api.schemas import Body, BodyText, Name, Note, Short
from common.inforeports import service as reports
from common.models import InfoReport


class InfoReportCreate(Body):
    title: Name
    body: BodyText = ""
    category: Short = "other"
    region_code: Short | None = None
    industry: Short | None = None
    enterprise_id: Short | None = None
    severity: Short = "low"
    source: Name = ""
    # The office's alone (its review): a reporter who sends them is refused by the write rules.
    status: Short | UnsetType = UNSET
    comment: Note | UnsetType = UNSET


class InfoReportUpdate(Body):
    title: Name | UnsetType = UNSET
    body: BodyText | UnsetType = UNSET
    category: Short | UnsetType = UNSET
    region_code: Short | None | UnsetType = UNSET
    industry: Short | None | UnsetType = UNSET
    severity: Short | UnsetType = UNSET
    source: Name | UnsetType = UNSET
    status: Short | UnsetType = UNSET
    comment: Note | UnsetType = UNSET


class InfoReportController(Controller):
    path = "/api/v1/info-reports"
    tags = ["info-reports"]

    @get("/", sync_to_thread=True, summary="List risk information in scope")
    def list_reports(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                     status: FromQuery[str | None] = None, category: FromQuery[str | None] = None,
                     region_code: FromQuery[str | None] = None, industry: FromQuery[str | None] = None,
                     month: FromQuery[str | None] = None, q: FromQuery[str | None] = None) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            stmt = reports.report_query(principal, status or "", category or "", region_code or "", industry or "",
                                        month or "", q or "")
            return page(session, stmt, limit, offset, lambda r: reports.report_out(r, principal))

    @post("/", sync_to_thread=True, summary="Report risk information")
    def create_report(self, request: Request, principal: Caller, data: JSONBody[InfoReportCreate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return reports.report_out(reports.create_report(session, principal, data.to_dict()), principal)

    @get("/{report_id:uuid}", sync_to_thread=True)
    def get_report(self, request: Request, principal: Caller, report_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return reports.report_out(policy.get_visible(session, InfoReport, report_id, principal), principal)

    @patch("/{report_id:uuid}", sync_to_thread=True)
    def update_report(self, request: Request, principal: Caller, report_id: FromPath[UUID],
                      data: JSONBody[InfoReportUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return reports.report_out(reports.update_report(session, principal, report_id, data.to_dict()), principal)
