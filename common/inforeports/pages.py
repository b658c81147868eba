"""Pages of risk information: the list with its filters, reporting from a phone (offline at a spoke), one report."""
from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.types import ControllerRouterHandler

from common import policy
from common.api.deps import OffsetQ
from common.errors import InvalidField
from common.inforeports import service as reports
from common.inforeports.reference import INFO_CATEGORIES, INFO_STATUSES, SEVERITIES
from common.models import Enterprise, InfoReport, Unit
from common.policy import Principal
from common.reference import INDUSTRIES
from common.visits.forms import error_map
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render

PAGE = 30
FIELDS = ("title", "body", "category", "region_code", "industry", "enterprise_id", "severity", "source")
CHOICES = {"categories": INFO_CATEGORIES, "severities": SEVERITIES, "statuses": INFO_STATUSES, "industries": INDUSTRIES}


@get("/info-reports", include_in_schema=False, sync_to_thread=True)
def list_page(request: Request, status: FromQuery[str | None] = None, category: FromQuery[str | None] = None,
              region_code: FromQuery[str | None] = None, industry: FromQuery[str | None] = None,
              month: FromQuery[str | None] = None, q: FromQuery[str | None] = None, offset: OffsetQ = 0) -> Response[str]:
    p = require_principal(request)
    filters = {"status": status or "", "category": category or "", "region_code": region_code or "",
               "industry": industry or "", "month": month or "", "q": q or ""}
    with request.app.state.db.reads() as session:
        stmt = reports.report_query(p, **{k if k != "region_code" else "region": v for k, v in filters.items()})
        rows = session.scalars(stmt.limit(PAGE + 1).offset(max(0, offset))).all()
    return render(request, "inforeports/list.html", {
        "rows": rows[:PAGE], "has_more": len(rows) > PAGE, "offset": max(0, offset), "page_size": PAGE,
        "filters": filters, "can_report": policy.may_write(p, "info_report", "create"), **CHOICES,
    }, partial="inforeports/_rows.html")


def _form_context(request: Request, p: Principal, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    with request.app.state.db.reads() as session:
        enterprises = session.execute(policy.scoped(Enterprise, p).with_only_columns(Enterprise.id, Enterprise.name)
                                      .order_by(Enterprise.name).limit(200)).all()
    return {"values": values, "errors": errors, "enterprises": enterprises, **CHOICES}


# A GET and a POST on one path must both be async (Litestar mixes them up otherwise): the reads run in a thread.
@get("/info-reports/new", include_in_schema=False)
async def new_page(request: Request, enterprise_id: FromQuery[str | None] = None) -> Response[str]:
    p = require_principal(request)
    policy.require_write(p, "info_report", "create")
    values = {name: "" for name in FIELDS} | {"category": "other", "severity": "low", "enterprise_id": enterprise_id or ""}
    context = await anyio.to_thread.run_sync(_form_context, request, p, values, {})
    return render(request, "inforeports/new.html", context)


@post("/info-reports/new", include_in_schema=False)
async def create_page(request: Request) -> Response[Any]:
    p = require_principal(request)
    form = await request.form()
    data = {name: str(form.get(name) or "") for name in FIELDS}
    state = request.app.state

    def save() -> uuid.UUID:
        with state.db.transaction(actor=p) as session:
            return reports.create_report(session, p, data).id

    try:
        report_id = await anyio.to_thread.run_sync(save)
    except InvalidField as exc:
        context = await anyio.to_thread.run_sync(_form_context, request, p, data, error_map(exc))
        return render(request, "inforeports/new.html", context, status=422)
    return redirect(request, f"/info-reports/{report_id}?saved=1")


@get("/info-reports/{report_id:uuid}", include_in_schema=False, sync_to_thread=True)
def detail_page(request: Request, report_id: FromPath[UUID], saved: FromQuery[str | None] = None,
                reviewed: FromQuery[str | None] = None, error: FromQuery[str | None] = None) -> Response[str]:
    p = require_principal(request)
    with request.app.state.db.reads() as session:
        report = policy.get_visible(session, InfoReport, report_id, p)
        enterprise = session.get(Enterprise, report.enterprise_id) if report.enterprise_id else None
        unit = session.get(Unit, report.source_unit) if report.source_unit else None
    return render(request, "inforeports/detail.html", {
        "report": report, "enterprise": enterprise, "unit": unit, "saved": bool(saved), "reviewed": bool(reviewed),
        "review_error": bool(error),
        **CHOICES,
    })


INFO_REPORT_PAGE_HANDLERS: list[ControllerRouterHandler] = [list_page, new_page, create_page, detail_page]
