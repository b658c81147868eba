"""The office's own work on bulletins, mounted by the hub alone: drafting, publishing, reminding."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath

from common import policy
from common.errors import InvalidField
from common.i18n import N_
from common.policy import Principal
from common.bulletins import service as bulletins
from common.validation import MAX_TARGETS
from common.attachments.pages import upload_limit
from common.bulletins.pages import act, blank_values, bulletin_data, detail_page, error_map, form_context, read_form, save_bulletin
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render


def _publisher(request: Request) -> Principal:
    """The office: the only one who writes bulletins (spokes receive them with their sync)."""
    principal = require_principal(request)
    policy.require_write(principal, "bulletin", "create")
    return principal


@get("/bulletins/new", include_in_schema=False, name="bulletins:new")
async def new_bulletin_page(request: Request) -> Response[str]:
    # Async (the thread hop by hand): a sync GET beside an async POST on one path is mis-wrapped by Litestar 2.25.
    _publisher(request)
    context = await anyio.to_thread.run_sync(form_context, request, blank_values(), {})
    return render(request, "bulletins/new.html", context)


@post("/bulletins/new", include_in_schema=False, name="bulletins:create", request_max_body_size=None, middleware=[upload_limit()])
async def create_bulletin_page(request: Request) -> Response[Any]:
    p = _publisher(request)
    fields, files = await read_form(request)
    data = bulletin_data(fields)
    try:
        bulletin_id = await anyio.to_thread.run_sync(save_bulletin, request.app.state, p, data, files)
    except InvalidField as exc:
        values = {**blank_values(), **{k: data[k] or "" for k in ("kind", "severity", "title", "body")},
                  "targets": data["targets"]}
        context = await anyio.to_thread.run_sync(form_context, request, values, error_map(exc))
        return render(request, "bulletins/new.html", context, status=422)
    done = "published" if data["publish"] == "1" else "saved"
    return redirect(request, f"/bulletins/{bulletin_id}?{done}=1")


@post("/bulletins/{bulletin_id:uuid}/publish", include_in_schema=False, name="bulletins:publish")
async def publish_page(request: Request, bulletin_id: FromPath[UUID]) -> Response[Any]:
    p = _publisher(request)
    return await act(request, p, bulletin_id, lambda session: bulletins.publish_bulletin(session, p, bulletin_id) and 1,
                      "published")


@post("/bulletins/{bulletin_id:uuid}/remind", include_in_schema=False, name="bulletins:remind")
async def remind_page(request: Request, bulletin_id: FromPath[UUID]) -> Response[Any]:
    p = _publisher(request)
    fields, _ = await read_form(request)
    nodes = [n for n in fields.get("nodes", []) if n]
    if len(nodes) > MAX_TARGETS:
        error = InvalidField("nodes", N_("At most {max} items"), max=MAX_TARGETS)
        return await anyio.to_thread.run_sync(lambda: detail_page(request, p, bulletin_id, error=error))
    if not nodes:
        # Nothing ticked is a mistake on the form, not "remind everyone": say so next to the choices.
        error = InvalidField("nodes", N_("Choose target nodes that have not acknowledged yet"))
        return await anyio.to_thread.run_sync(lambda: detail_page(request, p, bulletin_id, error=error))
    return await act(request, p, bulletin_id, lambda session: len(bulletins.remind(session, p, bulletin_id, nodes)),
                      "reminded")


BULLETIN_OFFICE_HANDLERS = [new_bulletin_page, create_bulletin_page, publish_page, remind_page]
