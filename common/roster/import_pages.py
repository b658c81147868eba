"""Importing the roster from Excel: the page (upload, check with progress, preview, confirm) and the API.

The page keeps each upload as a `RosterImport` row: the check and the write run in a worker thread that notes its
progress there, and the page asks for it every second (htmx) until the answer is in. The API does the same work in
the request and answers once it is done.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from sqlalchemy import delete, update

from common import i18n, policy
from common.api.deps import Caller
from common.attachments.pages import upload_limit
from common.errors import InvalidField, NotFound
from common.i18n import N_
from common.models import RosterImport
from common.orm import utcnow
from common.policy import Principal
from common.roster import imports, workbook
from common.rules import POLICE
from common.web.auth import require_principal
from common.web.errors import problem
from common.web.htmx import redirect
from common.web.templating import render
from common.web.xlsx import EXPORT_OPT, XLSX, filename_header, today

log = logging.getLogger(__name__)

# An upload not confirmed within this long is given up, and its bytes dropped.
KEPT = timedelta(hours=1)
# A check or a write that has noted no progress for this long died with its process.
STALLED = timedelta(minutes=5)
RUNNING = ("checking", "importing")
# Each sheet's column headers by field (a person's "name" is 姓名, an enterprise's 企业名称).
FIELD_HEADERS = {workbook.ENTERPRISES: {c.field: c.header for c in workbook.ENTERPRISE_COLUMNS},
                 workbook.PEOPLE: {c.field: c.header for c in workbook.PERSON_COLUMNS}}
STAGES = {"reading": N_("Reading the workbook…"), "checking": N_("Checking rows…"), "writing": N_("Writing…")}


def _may_import(p: Principal) -> None:
    policy.require_write(p, "enterprise", "create")


def _refused_answer(exc: workbook.ImportRefused) -> dict[str, Any]:
    message = i18n.gettext(exc.message, **exc.params)
    return {"ok": False, "written": False, "rows": 0, "counts": None,
            "problems": [{"sheet": "file", "row": None, "field": None, "message": message}]}


STALE = N_("The roster changed after the workbook was checked: nothing was written. Check the workbook again.")


# --- the template ----------------------------------------------------------------------------------------------

@get("/enterprises/import/template.xlsx", include_in_schema=False, sync_to_thread=True, opt=EXPORT_OPT)
def import_template(request: Request) -> Response[bytes]:
    p = require_principal(request)
    _may_import(p)
    content = workbook.template(police=p.role in POLICE)  # a few kilobytes: made in memory
    title = i18n.gettext(N_("Roster import template"))
    return Response(content, media_type=XLSX,
                    headers={"Content-Disposition": filename_header(title, "roster-import-template",
                                                                    today(request.app.state.clock())),
                             "Cache-Control": "no-store"})


# --- the page ----------------------------------------------------------------------------------------------------

@get("/enterprises/import", include_in_schema=False)
async def import_page(request: Request) -> Response[str]:
    p = require_principal(request)
    _may_import(p)
    return render(request, "roster/import.html", {"error": None, "job": None})


@post("/enterprises/import", include_in_schema=False, request_max_body_size=None, middleware=[upload_limit(1)])
async def upload_workbook(request: Request) -> Response[Any]:
    p = require_principal(request)
    _may_import(p)
    form = await request.form()
    upload = form.get("file")
    content = await upload.read() if isinstance(upload, UploadFile) else b""
    if not content:
        return render(request, "roster/import.html",
                      {"error": i18n.gettext(N_("Choose the workbook to import.")), "job": None}, status=422)
    if len(content) > workbook.MAX_BYTES:
        return render(request, "roster/import.html", {"error": i18n.gettext(
            N_("The file is larger than {size} MB: split it into smaller workbooks."),
            size=workbook.MAX_BYTES // (1024 * 1024)), "job": None}, status=413)
    filename = (upload.filename or "workbook.xlsx")[:200] if isinstance(upload, UploadFile) else "workbook.xlsx"
    db = request.app.state.db

    def start() -> UUID:
        with db.transaction(actor=p) as session:
            # Uploads given up on go with their bytes, whoever made them.
            session.execute(delete(RosterImport).where(RosterImport.created_at < utcnow() - KEPT))
            job = RosterImport(user_id=p.user_id, filename=filename, sha256=imports.digest(content), content=content)
            session.add(job)
            session.flush()
            return job.id

    job_id = await anyio.to_thread.run_sync(start)
    _in_background(db, p, job_id, dry_run=True, language=i18n.current_language())
    return redirect(request, f"/enterprises/import/{job_id}")


def _mine(session: Any, job_id: UUID, p: Principal) -> RosterImport:
    job = session.get(RosterImport, job_id)
    if job is None or job.user_id != p.user_id:
        raise NotFound()
    return job


@get("/enterprises/import/{job_id:uuid}", include_in_schema=False)
async def import_status(request: Request, job_id: FromPath[UUID]) -> Response[str]:
    p = require_principal(request)
    _may_import(p)

    def read() -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            job = _mine(session, job_id, p)
            stalled = job.status in RUNNING and job.updated_at < utcnow() - STALLED
            return {"id": str(job.id), "filename": job.filename, "status": "failed" if stalled else job.status,
                    "stage": job.stage, "done": job.done, "total": job.total, "answer": job.answer,
                    "stalled": stalled, "kept": job.content is not None}

    job = await anyio.to_thread.run_sync(read)
    context = {"error": None, "job": job, "headers": FIELD_HEADERS, "stages": STAGES,
               "sheets": workbook.SHEET_TITLES, "percent": int(100 * job["done"] / job["total"]) if job["total"] else 0}
    if request.headers.get("hx-request") == "true":
        if job["status"] in RUNNING:
            return render(request, "roster/_import_progress.html", context)
        return redirect(request, f"/enterprises/import/{job_id}")  # finished: the whole page, with the answer
    return render(request, "roster/import.html", context)


@post("/enterprises/import/{job_id:uuid}/commit", include_in_schema=False)
async def confirm_import(request: Request, job_id: FromPath[UUID]) -> Response[Any]:
    p = require_principal(request)
    _may_import(p)
    db = request.app.state.db

    def claim() -> bool:
        with db.transaction(actor=p) as session:
            job = _mine(session, job_id, p)
            if job.content is None or not job.answer or not job.answer.get("ok"):
                return False
            # Once: a second click (or a second tab) finds it no longer "checked".
            claimed = session.execute(update(RosterImport).where(RosterImport.id == job.id,
                                                                 RosterImport.status == "checked")
                                      .values(status="importing", stage="checking", done=0, updated_at=utcnow()))
            return bool(claimed.rowcount)

    if await anyio.to_thread.run_sync(claim):
        _in_background(db, p, job_id, dry_run=False, language=i18n.current_language())
    return redirect(request, f"/enterprises/import/{job_id}")


def _in_background(db: Any, p: Principal, job_id: UUID, dry_run: bool, language: str) -> None:
    threading.Thread(target=_work, args=(db, p, job_id, dry_run, language), daemon=True,
                     name=f"roster-import-{job_id}").start()


def _work(db: Any, p: Principal, job_id: UUID, dry_run: bool, language: str) -> None:
    """The worker thread: its answer in the language of the page that started it."""
    token = i18n.set_language(language)
    try:
        _check_or_write(db, p, job_id, dry_run)
    finally:
        i18n.reset_language(token)


def _check_or_write(db: Any, p: Principal, job_id: UUID, dry_run: bool) -> None:
    """Check (or write) an upload, noting progress on its row."""
    def note(stage: str, done: int, total: int) -> None:
        with db.transaction() as session:
            session.execute(update(RosterImport).where(RosterImport.id == job_id)
                            .values(stage=stage, done=done, total=total, updated_at=utcnow()))

    with db.reads() as session:
        job = session.get(RosterImport, job_id)
        content, filename = (job.content or b""), job.filename
    try:
        answer = imports.run(db, p, content, filename, dry_run=dry_run, progress=note)
        status = "checked" if dry_run else "done"
    except workbook.ImportRefused as exc:
        answer, status = _refused_answer(exc), "failed"
    except imports.Stale:
        answer = {"ok": False, "written": False, "stale": True, "counts": None,
                  "problems": [{"sheet": "file", "row": None, "field": None, "message": i18n.gettext(STALE)}]}
        status = "failed"
    except Exception:
        log.exception("roster import %s failed", job_id)
        answer = {"ok": False, "written": False, "counts": None, "problems": [
            {"sheet": "file", "row": None, "field": None,
             "message": i18n.gettext(N_("The import failed unexpectedly: nothing was written."))}]}
        status = "failed"
    keep = status == "checked" and answer.get("ok")
    with db.transaction() as session:
        values: dict[str, Any] = {"status": status, "answer": answer, "updated_at": utcnow()}
        if not keep:
            values["content"] = None  # written, or refused: the personal data in it is not kept
        session.execute(update(RosterImport).where(RosterImport.id == job_id).values(**values))


# --- the API -----------------------------------------------------------------------------------------------------

def _flag(value: Any) -> bool | None:
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False}.get(
        str(value if value is not None else "").strip().lower())


@post("/api/v1/enterprises/import", tags=["roster"], request_max_body_size=None, middleware=[upload_limit(1)],
      summary="Import enterprises and their people from an Excel workbook (multipart `file`, `dry_run`)",
      status_code=200)
async def import_api(request: Request, principal: Caller) -> Response[Any]:
    _may_import(principal)
    form = await request.form()
    upload = form.get("file")
    dry_run = _flag(form.get("dry_run", request.query_params.get("dry_run", "false")))
    if dry_run is None:
        raise InvalidField("dry_run", N_("Not a valid value"))
    if not isinstance(upload, UploadFile):
        raise InvalidField("file", N_("This field is required"))
    content = await upload.read()
    filename = (upload.filename or "workbook.xlsx")[:200]
    db = request.app.state.db
    try:
        answer = await anyio.to_thread.run_sync(lambda: imports.run(db, principal, content, filename, dry_run))
    except workbook.ImportRefused as exc:
        body = _refused_answer(exc)
        return problem(request, 422, body["problems"][0]["message"],
                       [{"field": "file", "message": body["problems"][0]["message"]}])
    except imports.Stale:
        return problem(request, 409, i18n.gettext(STALE))
    if not dry_run and not answer["ok"]:
        return Response({**_problem_body(request), **answer}, status_code=422,
                         media_type="application/problem+json")
    return Response(answer, status_code=200)


def _problem_body(request: Request) -> dict[str, Any]:
    return {"type": "about:blank", "title": i18n.gettext(N_("Some rows have problems")), "status": 422,
            "detail": i18n.gettext(N_("Nothing was imported: correct the rows listed and send the workbook again.")),
            "instance": request.url.path}


IMPORT_HANDLERS = [import_template, import_page, upload_workbook, import_status, confirm_import]
IMPORT_API_HANDLERS = [import_api]
