"""/admin/jobs: the hub's scheduled jobs for the office, each with its last run and a button to run it now."""
from __future__ import annotations

from typing import Any

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery

from common.cases.pages import _form
from common.errors import NotFound
from common.i18n import gettext
from common.service import audit_write
from common.web.auth import require_office_principal
from common.web.htmx import redirect
from common.web.templating import render
from hub.jobs import JOBS, job_rows, run_job


def every(seconds: float) -> str:
    if seconds < 60:
        return gettext("{n} s").format(n=f"{seconds:g}")
    if seconds < 3600:
        return gettext("{n} min").format(n=f"{seconds / 60:g}")
    return gettext("{n} h").format(n=f"{seconds / 3600:g}")


@get("/admin/jobs", include_in_schema=False, name="admin:jobs")
async def jobs_page(request: Request, ran: FromQuery[str | None] = None) -> Response[str]:
    require_office_principal(request)
    rows = await anyio.to_thread.run_sync(job_rows, request.app.state.db)
    done = next((log for job, log in rows if job.name == ran and log is not None), None) if ran else None
    return render(request, "notify/jobs.html", {"rows": rows, "every": every, "ran": done})


@post("/admin/jobs/{name:str}/run", include_in_schema=False)
async def run_job_page(request: Request, name: FromPath[str]) -> Response[Any]:
    """Run one job now, in this request (the office waits for it), then show how it went."""
    p = require_office_principal(request)
    await _form(request)
    job = JOBS.get(name)
    if job is None:
        raise NotFound()
    db, settings = request.app.state.db, request.app.state.settings

    def work() -> None:
        with db.transaction(actor=p) as session:
            audit_write(session, p, "job.run", "job", name)
        run_job(db, settings, job)

    await anyio.to_thread.run_sync(work)
    return redirect(request, f"/admin/jobs?ran={name}#job-{name}")


JOB_PAGE_HANDLERS = [jobs_page, run_job_page]
