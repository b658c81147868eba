"""The office's own work on visits, mounted by the hub alone: the checklist and the cadences."""
from __future__ import annotations

from typing import Any

import anyio
from litestar import Request, Response, post

from common import policy
from common.errors import InvalidField
from common.visits import forms
from common.visits import settings_page as visit_settings
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render


@post("/visits/settings", include_in_schema=False, name="visits:settings-save")
async def save_settings_page(request: Request) -> Response[Any]:
    p = require_principal(request)
    policy.require_office(p)
    form = await request.form()
    checklist, cadence = visit_settings.submitted(form)
    state = request.app.state
    try:
        await anyio.to_thread.run_sync(visit_settings.save, state.db, p, checklist, cadence)
    except InvalidField as exc:
        def again() -> dict[str, Any]:
            with state.db.reads() as session:
                return visit_settings.page_context(session, True, checklist, cadence)
        context = await anyio.to_thread.run_sync(again)
        return render(request, "visits/settings.html", {**context, "errors": forms.error_map(exc), "saved": False},
                      status=422)
    return redirect(request, "/visits/settings?saved=1")


VISIT_OFFICE_HANDLERS = [save_settings_page]
