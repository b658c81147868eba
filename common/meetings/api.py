"""The JSON API of the joint meetings (the office's, mounted by the hub alone) and of the annual questionnaire
(answered at every node by its workstation; made by the office at the hub)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import UNSET, Meta, UnsetType

from common import policy
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.api.schemas import Body, Name, Short
from common.meetings import service, surveys
from common.meetings.models import Meeting

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


def _resolved(data: dict[str, Any]) -> dict[str, Any]:
    if "resolutions" in data:
        data["resolutions"] = [{k: v for k, v in r.items() if v is not None} for r in data["resolutions"]]
    return data


class MeetingController(Controller):
    """Joint meetings: the office's (leaders too), at the hub."""

    path = "/api/v1/meetings"
    tags = ["meetings"]

    @get("/", sync_to_thread=True, summary="Joint meetings, newest first (office)")
    def list_meetings(self, request: Request, principal: Caller, limit: LimitQ = 50, offset: OffsetQ = 0,
                      kind: FromQuery[str | None] = None) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            stmt = service.meetings(principal)
            if kind:
                stmt = stmt.where(Meeting.kind == kind)
            return page(session, stmt, limit, offset, lambda m: service.meeting_out(session, m))

    @post("/", sync_to_thread=True, summary="Plan a meeting; its agenda is built from its period unless given")
    def create_meeting(self, request: Request, principal: Caller, data: JSONBody[MeetingCreate]) -> dict[str, Any]:
        policy.require_office(principal)
        with request.app.state.db.transaction(actor=principal) as session:
            return service.meeting_out(session, service.create_meeting(session, principal, _resolved(data.to_dict())))

    @get("/{meeting_id:uuid}", sync_to_thread=True, summary="One meeting, with the open resolutions of earlier ones")
    def get_meeting(self, request: Request, principal: Caller, meeting_id: FromPath[UUID]) -> dict[str, Any]:
        with request.app.state.db.reads() as session:
            return service.meeting_out(session, service.get_meeting(session, principal, meeting_id))

    @patch("/{meeting_id:uuid}", sync_to_thread=True,
           summary="Edit a meeting; status held makes each resolution a task (once)")
    def update_meeting(self, request: Request, principal: Caller, meeting_id: FromPath[UUID],
                       data: JSONBody[MeetingUpdate]) -> dict[str, Any]:
        with request.app.state.db.transaction(actor=principal) as session:
            meeting = service.update_meeting(session, principal, meeting_id, _resolved(data.to_dict()))
            return service.meeting_out(session, meeting)


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


class SurveyOfficeController(SurveyController):
    """At the hub: the office also makes and sends the year's questionnaire."""

    @post("/", sync_to_thread=True, summary="Make and send the year's questionnaire to every workstation (office)")
    def create_survey(self, request: Request, principal: Caller, data: JSONBody[SurveyCreate]) -> dict[str, Any]:
        policy.require_office(principal)
        with request.app.state.db.transaction(actor=principal) as session:
            survey = surveys.create_survey(session, principal, data.year, data.title, list(data.questions) or None)
            return surveys.summary(session, survey)


def answer_out(answer: Any) -> dict[str, Any]:
    return {"id": str(answer.id), "survey_id": str(answer.survey_id), "node": answer.node_id, "title": answer.title,
            "questions": answer.questions, "ratings": answer.ratings, "comment": answer.comment,
            "answered_at": answer.answered_at.isoformat() if answer.answered_at else None}
