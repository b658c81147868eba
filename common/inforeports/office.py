"""The office's review of risk information, mounted by the hub alone: adopted or not, with a comment."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, post
from litestar.params import FromPath, JSONBody

from common.api.deps import Caller
from common.api.schemas import Body, Note, Short
from common.errors import InvalidField
from common.inforeports import service as reports
from common.inforeports.api import InfoReportController
from common.web.auth import require_principal
from common.web.htmx import redirect


class InfoReportReview(Body):
    decision: Short
    comment: Note = ""


class InfoReportOfficeController(InfoReportController):
    """Risk information's API at the hub: what every node answers, and the office's review, on one controller."""

    @post("/{report_id:uuid}/review", sync_to_thread=True, summary="Adopt a report or not (office)", status_code=200)
    def review_report(self, request: Request, principal: Caller, report_id: FromPath[UUID],
                      data: JSONBody[InfoReportReview]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            report = reports.review_report(session, principal, report_id, data.decision, data.comment)
            return reports.report_out(report, principal)


@post("/info-reports/{report_id:uuid}/review", include_in_schema=False, name="info-reports:review")
async def review_report_page(request: Request, report_id: FromPath[UUID]) -> Response[Any]:
    p = require_principal(request)
    form = await request.form()
    state = request.app.state

    def save() -> None:
        with state.db.transaction(actor=p) as session:
            reports.review_report(session, p, report_id, str(form.get("decision") or ""), str(form.get("comment") or ""))

    try:
        await anyio.to_thread.run_sync(save)
    except InvalidField:
        return redirect(request, f"/info-reports/{report_id}?error=review")
    return redirect(request, f"/info-reports/{report_id}?reviewed=1")


INFO_REPORT_OFFICE_HANDLERS = [review_report_page]
