"""Pages of the annual questionnaire at every node: a workstation answers its own; the office sees the summary."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath

from common import policy
from common.bulletins.pages import read_form
from common.errors import DomainError, InvalidField
from common.i18n import gettext
from common.meetings import surveys
from common.policy import Principal
from common.web.auth import require_principal
from common.web.errors import field_errors
from common.web.htmx import redirect
from common.web.templating import render

def message_of(exc: DomainError) -> str:
    if isinstance(exc, InvalidField):
        return "；".join(f"{p['field']}: {p['message']}" for p in field_errors(exc))
    return gettext(getattr(exc, "message", str(exc)), **getattr(exc, "params", {}))


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


# --- the questionnaire ------------------------------------------------------------------------------------------

@get("/surveys", include_in_schema=False, name="surveys:list")
async def surveys_page(request: Request) -> Response[str]:
    p = require_principal(request)

    def context() -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return {"surveys": surveys.surveys(session, p)}

    return render(request, "meetings/surveys.html", await anyio.to_thread.run_sync(context))


def _survey_context(request: Request, p: Principal, survey_id: UUID, error: dict[str, str] | None = None,
                    values: dict[str, Any] | None = None) -> dict[str, Any]:
    with request.app.state.db.reads() as session:
        if p.is_office:
            survey = surveys.get_survey(session, p, survey_id)
            return {"summary": surveys.summary(session, survey), "survey": survey}
        answer = surveys.own_answer(session, p, survey_id)
        return {"answer": answer, "errors": error or {}, "values": values or {"ratings": answer.ratings or {},
                                                                              "comment": answer.comment},
                "may_answer": policy.may_write(p, "survey_answer", "update", answer.node_id),
                "saved": request.query_params.get("saved")}


@get("/surveys/{survey_id:uuid}", include_in_schema=False, name="surveys:detail")
async def survey_page(request: Request, survey_id: FromPath[UUID]) -> Response[str]:
    p = require_principal(request)
    return render(request, "meetings/survey.html", await anyio.to_thread.run_sync(_survey_context, request, p, survey_id))


@post("/surveys/{survey_id:uuid}", include_in_schema=False, name="surveys:answer")
async def answer_survey_page(request: Request, survey_id: FromPath[UUID]) -> Response[Any]:
    p = require_principal(request)
    fields, _ = await read_form(request)
    first = {name: values[0] for name, values in fields.items() if values}
    ratings = {k: v for k, v in first.items() if k.startswith("q")}

    def save() -> None:
        with request.app.state.db.transaction(actor=p) as session:
            surveys.answer_survey(session, p, survey_id, ratings, first.get("comment", ""))

    try:
        await anyio.to_thread.run_sync(save)
    except InvalidField as exc:
        errors = {problem["field"]: problem["message"] for problem in field_errors(exc)}
        context = await anyio.to_thread.run_sync(_survey_context, request, p, survey_id, errors,
                                                 {"ratings": ratings, "comment": first.get("comment", "")})
        return render(request, "meetings/survey.html", context, status=422)
    return redirect(request, f"/surveys/{survey_id}?saved=1")


SURVEY_PAGE_HANDLERS = [surveys_page, survey_page, answer_survey_page]
