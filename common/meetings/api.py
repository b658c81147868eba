"""The JSON API of the annual questionnaire at every node (a workstation answers its own), and the request bodies
of the meetings' API (common/meetings/office_api.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from msgspec import UNSET, Meta, UnsetType

from common.api.deps import Caller
from common.api.schemas import Body, Name, Short
from common.meetings import service, surveys


Items = Annotated[list[Any], Meta(max_length=service.MAX_ITEMS)]
Texts = Annotated[list[Annotated[str, Meta(max_length=200)]], Meta(max_length=service.MAX_ITEMS)]
Minutes = Annotated[str, Meta(max_length=50_000)]


class Resolution(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    text: Annotated[str, Meta(max_length=service.MAX_TEXT)]
    due: str
    owner_unit: Short | None = None
    owner_node: Short | None = None
    owner_user: Short | None = None
    task_id: Short | None = None


class MeetingCreate(Body):
    kind: Short
    title: Name | UnsetType = UNSET
    period: Short | UnsetType = UNSET
    held_at: datetime | None | UnsetType = UNSET
    attendees: Texts = []
    agenda: Items = []
    minutes: Minutes = ""
    resolutions: Annotated[list[Resolution], Meta(max_length=service.MAX_ITEMS)] = []
    status: Short | UnsetType = UNSET


class MeetingUpdate(Body):
    title: Name | UnsetType = UNSET
    held_at: datetime | None | UnsetType = UNSET
    attendees: Texts | UnsetType = UNSET
    agenda: Items | UnsetType = UNSET
    minutes: Minutes | UnsetType = UNSET
    resolutions: Annotated[list[Resolution], Meta(max_length=service.MAX_ITEMS)] | UnsetType = UNSET
    status: Short | UnsetType = UNSET


class SurveyCreate(Body):
    year: int
    title: Name = ""
    questions: Texts = []


class SurveyAnswerIn(Body):
    ratings: Annotated[dict[Short, int], Meta(max_length=20)]
    comment: Annotated[str, Meta(max_length=4000)] = ""


class SurveyController(Controller):
    """The annual questionnaire as every node answers it: a workstation its own, the office all of them."""

    path = "/api/v1/surveys"
    tags = ["meetings"]

    @get("/", sync_to_thread=True, summary="Questionnaires: all (office) or the caller's node's own")
    def list_surveys(self, request: Request, principal: Caller) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return {"items": surveys.surveys(session, principal)}

    @get("/{survey_id:uuid}", sync_to_thread=True, summary="The summary (office) or the caller's node's answer")
    def get_survey(self, request: Request, principal: Caller, survey_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            if principal.is_office:
                return surveys.summary(session, surveys.get_survey(session, principal, survey_id))
            return answer_out(surveys.own_answer(session, principal, survey_id))

    @post("/{survey_id:uuid}/answer", sync_to_thread=True, status_code=200,
          summary="Answer the questionnaire for the caller's own workstation")
    def answer(self, request: Request, principal: Caller, survey_id: FromPath[UUID],
               data: JSONBody[SurveyAnswerIn]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            return answer_out(surveys.answer_survey(session, principal, survey_id, data.ratings, data.comment))


def answer_out(answer: Any) -> dict[str, Any]:
    return {"id": str(answer.id), "survey_id": str(answer.survey_id), "node": answer.node_id, "title": answer.title,
            "questions": answer.questions, "ratings": answer.ratings, "comment": answer.comment,
            "answered_at": answer.answered_at.isoformat() if answer.answered_at else None}
