"""The reports' pages, downloads and JSON API, mounted by the hub alone (hub/office.py)."""
from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import anyio
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from common import i18n
from common.api.deps import Caller
from common.errors import Forbidden, InvalidField, NotFound
from common.i18n import N_
from common.policy import Principal
from common.reports import documents, service
from common.reports.models import Report
from common.reports.periods import KINDS, kind_of
from common.reports.tables import tables
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render


def _reader(request: Request) -> Principal:
    p = require_principal(request)
    if not service.may_list(p):
        raise Forbidden(N_("Reports are read by the office at the hub."))
    return p


def _office(p: Principal) -> None:
    if not p.is_office:
        raise Forbidden(N_("Only the center office may do this."))


def _load(request: Request, p: Principal, report_id: uuid.UUID) -> Report:
    with request.app.state.db.reads() as session:
        report = service.get_report(session, p, report_id)
        session.expunge(report)
    return report


def as_json(report: Report, with_figures: bool = True) -> dict[str, Any]:
    out = {"id": str(report.id), "kind": report.kind, "period": report.period, "status": report.status,
           "analysis": report.analysis, "guidance": report.guidance,
           "compiled_at": report.compiled_at.isoformat() if report.compiled_at else None,
           "published_at": report.published_at.isoformat() if report.published_at else None,
           "published_by": str(report.published_by) if report.published_by else None,
           "bulletin_id": str(report.bulletin_id) if report.bulletin_id else None}
    if with_figures:
        out["figures"] = report.figures
    return out


# ── Pages ─────────────────────────────────────────────────────────────────────────────────────────────────────

@get("/reports", include_in_schema=False, sync_to_thread=True, name="reports:list")
def reports_page(request: Request) -> Response[str]:
    p = _reader(request)
    with request.app.state.db.reads() as session:
        rows = list(session.scalars(service.readable(session, p).order_by(Report.period.desc(), Report.kind)))
    return render(request, "reports/list.html", {"reports": rows, "can_compile": p.is_office, "kinds": KINDS,
                                                 "title_of": lambda r: service.title_of(r, i18n.translate)})


def _download(report: Report, suffix: str) -> Response[bytes]:
    title = service.title_of(report, lambda m: i18n.translate(m, "zh_Hans"))
    name = f"lianfu-report-{report.kind}-{report.period}.{suffix}"
    if suffix == "pdf":
        body, media = documents.pdf(report), "application/pdf"
    else:
        body, media = documents.workbook(report), documents.XLSX
    return Response(body, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(title)}.{suffix}",
        "Cache-Control": "no-store"})


@get("/reports/{ref:str}", include_in_schema=False, sync_to_thread=True)
def report_page(request: Request, ref: FromPath[str]) -> Response[Any]:
    """`/reports/{id}` the page; `/reports/{id}.pdf` and `/reports/{id}.xlsx` its downloads."""
    p = _reader(request)
    stem, _, suffix = ref.partition(".")
    try:
        report_id = uuid.UUID(stem)
    except ValueError:
        raise NotFound() from None
    if suffix not in ("", "pdf", "xlsx"):
        raise NotFound()
    report = _load(request, p, report_id)
    if suffix:
        return _download(report, suffix)
    shown = tables(report)
    charts = json.dumps([t.chart_data() for t in shown if t.chart and t.rows], ensure_ascii=False).replace("</", "<\\/")
    return render(request, "reports/detail.html", {
        "report": report, "title": service.title_of(report, i18n.translate), "tables": shown, "charts_json": charts,
        "can_edit": p.is_office, "saved": request.query_params.get("saved")})


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: form.get(k) for k in form.keys()}


@post("/reports/compile", include_in_schema=False)
async def compile_page(request: Request) -> Response[Any]:
    p = require_principal(request)
    _office(p)
    form = await _form(request)
    period = str(form.get("period") or "").strip()

    def work() -> uuid.UUID:
        with request.app.state.db.transaction(actor=p) as session:
            report, _ = service.compile_report(session, kind_of(period), period, request.app.state.clock(), recompile=True)
            return report.id
    return redirect(request, f"/reports/{await anyio.to_thread.run_sync(work)}")


@post("/reports/{report_id:uuid}/edit", include_in_schema=False)
async def edit_page(request: Request, report_id: FromPath[uuid.UUID]) -> Response[Any]:
    p = require_principal(request)
    _office(p)
    form = await _form(request)
    data: dict[str, Any] = {k: str(form.get(k) or "") for k in ("analysis", "guidance") if k in form}
    if form.get("publish"):
        data["status"] = "published"

    def work() -> None:
        with request.app.state.db.transaction(actor=p) as session:
            service.update_report(session, p, service.get_report(session, p, report_id), data)
    await anyio.to_thread.run_sync(work)
    return redirect(request, f"/reports/{report_id}?saved=1")


@post("/reports/{report_id:uuid}/bulletin", include_in_schema=False)
async def bulletin_page(request: Request, report_id: FromPath[uuid.UUID]) -> Response[Any]:
    p = require_principal(request)
    _office(p)

    def work() -> uuid.UUID:
        with request.app.state.db.transaction(actor=p) as session:
            return service.draft_bulletin(session, p, service.get_report(session, p, report_id)).id
    return redirect(request, f"/bulletins/{await anyio.to_thread.run_sync(work)}")


REPORT_PAGE_HANDLERS = [reports_page, report_page, compile_page, edit_page, bulletin_page]


# ── JSON API ──────────────────────────────────────────────────────────────────────────────────────────────────

class ReportController(Controller):
    path = "/api/v1/reports"
    tags = ["reports"]

    @get("/", sync_to_thread=True, summary="Reports: the office's all, a liaison officer's the published monthly digests")
    def list_reports(self, request: Request, principal: Caller, kind: FromQuery[str | None] = None,
                     status: FromQuery[str | None] = None, limit: FromQuery[int] = 50,
                     offset: FromQuery[int] = 0) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            stmt = service.readable(session, principal)
            if kind:
                stmt = stmt.where(Report.kind == kind)
            if status:
                stmt = stmt.where(Report.status == status)
            rows = session.scalars(stmt.order_by(Report.period.desc(), Report.kind)
                                   .limit(max(1, min(limit, 200))).offset(max(0, offset))).all()
            return {"items": [as_json(r, with_figures=False) for r in rows], "limit": limit, "offset": offset}

    @get("/{report_id:uuid}", sync_to_thread=True, summary="One report with its figures")
    def read(self, request: Request, principal: Caller, report_id: FromPath[uuid.UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return as_json(service.get_report(session, principal, report_id))

    @post("/", sync_to_thread=True, summary="Compile a report as a draft (again, while a draft) (office)")
    def create(self, request: Request, principal: Caller, data: JSONBody[dict[str, Any]]) -> Response[dict[str, Any]]:
        _office(principal)
        kind, period = str(data.get("kind") or ""), str(data.get("period") or "")
        if kind not in KINDS:
            raise InvalidField("kind", N_("Not one of the allowed values"))
        with request.app.state.db.transaction(actor=principal) as session:
            report, made = service.compile_report(session, kind, period, request.app.state.clock(), recompile=True)
            return Response(as_json(report), status_code=201 if made else 200)

    @patch("/{report_id:uuid}", sync_to_thread=True, summary="Edit the analysis and guidance; publish (office)")
    def change(self, request: Request, principal: Caller, report_id: FromPath[uuid.UUID],
               data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        _office(principal)
        with request.app.state.db.transaction(actor=principal) as session:
            return as_json(service.update_report(session, principal, service.get_report(session, principal, report_id), data))

    @post("/{report_id:uuid}/bulletin", sync_to_thread=True, status_code=201,
          summary="Draft a warning to the digest's regions and industries (office)")
    def bulletin(self, request: Request, principal: Caller, report_id: FromPath[uuid.UUID]) -> dict[str, Any]:
        _office(principal)
        with request.app.state.db.transaction(actor=principal) as session:
            b = service.draft_bulletin(session, principal, service.get_report(session, principal, report_id))
            return {"id": str(b.id), "kind": b.kind, "title": b.title, "body": b.body, "severity": b.severity,
                    "targets": b.targets, "published": b.published_at is not None}


REPORT_API_HANDLERS = [ReportController]
