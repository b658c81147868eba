"""The JSON API of the joint meetings and of sending the year's questionnaire: the office's, mounted by the hub alone."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from common import policy
from common.api.deps import Caller, LimitQ, OffsetQ
from common.api.paging import page
from common.meetings import service, surveys
from common.meetings.api import MeetingCreate, MeetingUpdate, SurveyController, SurveyCreate
from common.meetings.models import Meeting


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


class SurveyOfficeController(SurveyController):
    """At the hub: the office also makes and sends the year's questionnaire."""

    @post("/", sync_to_thread=True, summary="Make and send the year's questionnaire to every workstation (office)")
    def create_survey(self, request: Request, principal: Caller, data: JSONBody[SurveyCreate]) -> dict[str, Any]:
        policy.require_office(principal)
        with request.app.state.db.transaction(actor=principal) as session:
            survey = surveys.create_survey(session, principal, data.year, data.title, list(data.questions) or None)
            return surveys.summary(session, survey)
