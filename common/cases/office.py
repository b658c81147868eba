"""The office's own work on cases, mounted by the hub alone: the routing table's changes."""
from __future__ import annotations

from typing import Any

import anyio
from litestar import Request, Response, post

from common.errors import InvalidField
from common.reference import CATEGORIES
from common.cases import rules as case_rules
from common.web.auth import require_office_principal
from common.cases.pages import routing_page_response
from common.cases.views import error_messages
from common.center import settings
from common.web.htmx import redirect


@post("/cases/routing", include_in_schema=False, name="cases:routing-save")
async def save_routing(request: Request) -> Response[Any]:
    p = require_office_principal(request)
    form = await request.form()
    table = {category: {"lead": form.get(f"{category}.lead") or "", "co": form.getall(f"{category}.co", [])}
             for category in CATEGORIES}

    def work() -> None:
        with request.app.state.db.transaction(actor=p) as session:
            settings.put(session, p, case_rules.ROUTING_KEY, table)

    try:
        await anyio.to_thread.run_sync(work)
    except InvalidField as exc:
        errors = error_messages(exc)
        return await anyio.to_thread.run_sync(lambda: routing_page_response(request, table, errors, False, status=422))
    return redirect(request, "/cases/routing?saved=1")


CASE_OFFICE_HANDLERS = [save_routing]
