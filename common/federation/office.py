"""The office's own work on applications, mounted by the hub alone: decisions, comments, enrollment codes."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, Response, post
from litestar.params import FromPath

from common import policy
from common.errors import Conflict
from common.i18n import N_
from common.models import NodeApplication
from common.policy import Principal
from common.federation import service as federation
from common.federation import views
from common.cases.pages import _form, one
from common.federation.pages import act


@post("/applications/{application_id:uuid}/decision", include_in_schema=False, name="applications:decide")
async def decide_page(request: Request, application_id: FromPath[UUID]) -> Response[Any]:
    form, _ = await _form(request)
    now = request.app.state.clock()

    def decide(session: Any, p: Principal) -> str | None:
        _, code = federation.decide_application(session, p, application_id, str(one(form.get("decision")) or ""),
                                                str(one(form.get("comment")) or ""), now)
        return code

    return await act(request, application_id, decide, form, "history")


@post("/applications/{application_id:uuid}/comment", include_in_schema=False, name="applications:comment")
async def comment_page(request: Request, application_id: FromPath[UUID]) -> Response[Any]:
    form, _ = await _form(request)

    def comment(session: Any, p: Principal) -> None:
        federation.comment_on_application(session, p, application_id, str(one(form.get("comment")) or ""))

    return await act(request, application_id, comment, {**form, "decision": "comment"}, "history")


@post("/applications/{application_id:uuid}/enrollment-code", include_in_schema=False,
      name="applications:enrollment-code")
async def new_code_page(request: Request, application_id: FromPath[UUID]) -> Response[Any]:
    await _form(request)
    now = request.app.state.clock()

    def issue(session: Any, p: Principal) -> str:
        application = policy.get_visible(session, NodeApplication, application_id, p)
        if application.status != "approved" or application.kind not in views.NEW_KINDS or not application.created_node:
            raise Conflict(N_("Only an approved new node has an enrollment code."))
        return federation.reissue_enrollment_code(session, p, application.created_node, now)

    return await act(request, application_id, issue, {}, "enrollment")


APPLICATION_OFFICE_HANDLERS = [decide_page, comment_page, new_code_page]
