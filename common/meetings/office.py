"""The office's own pages of the joint meetings and the year's questionnaire, mounted by the hub alone: planning a
meeting, its agenda and minutes, marking it held, sending the questionnaire."""
from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath
from sqlalchemy import select

from common import policy
from common.bulletins.pages import read_form
from common.errors import DomainError, InvalidField
from common.i18n import N_
from common.meetings import service, surveys
from common.meetings.models import Meeting
from common.meetings.pages import message_of, lines
from common.models import Node, Unit
from common.orm import utcnow
from common.policy import Principal
from common.web.auth import require_principal
from common.web.htmx import redirect
from common.web.templating import render

BLANK_RESOLUTIONS = 3
KIND_LABELS = {"semiannual": N_("Semiannual joint meeting"), "annual": N_("Annual summary meeting with enterprises")}


def _office(request: Request) -> Principal:
    principal = require_principal(request)
    policy.require_office(principal)
    return principal


def _owners(session: Any) -> dict[str, str]:
    """The owners a resolution may name on the page: units and nodes (a person by `user:<id>` through the API)."""
    out = {f"unit:{u.id}": u.name for u in session.scalars(select(Unit).where(Unit.active.is_(True))
                                                                   .order_by(Unit.sort_order, Unit.id))}
    out.update({f"node:{n.id}": n.name for n in session.scalars(select(Node).where(Node.status == "active")
                                                                    .order_by(Node.path))})
    return out


# --- meetings ---------------------------------------------------------------------------------------------------

def _list_context(request: Request, p: Principal, error: str = "") -> dict[str, Any]:
    with request.app.state.db.reads() as session:
        rows = session.scalars(service.meetings(p).limit(100)).all()
        year = utcnow().year
        survey = surveys.year_survey(session, year)
        return {"meetings": rows, "kinds": KIND_LABELS, "error": error, "year": year,
                "survey": survey, "default_period": service.period_of("semiannual", utcnow().date())}


@get("/meetings", include_in_schema=False, name="meetings:list")
async def meetings_page(request: Request) -> Response[str]:
    p = _office(request)
    return render(request, "meetings/list.html", await anyio.to_thread.run_sync(_list_context, request, p))


@post("/meetings", include_in_schema=False, name="meetings:create")
async def create_meeting_page(request: Request) -> Response[Any]:
    p = _office(request)
    fields, _ = await read_form(request)

    def save() -> str:
        data = {"kind": (fields.get("kind") or [""])[0], "period": (fields.get("period") or [""])[0] or None,
                "title": (fields.get("title") or [""])[0], "held_at": (fields.get("held_at") or [""])[0] or None}
        with request.app.state.db.transaction(actor=p) as session:
            return str(service.create_meeting(session, p, data).id)

    try:
        meeting_id = await anyio.to_thread.run_sync(save)
    except DomainError as exc:
        context = await anyio.to_thread.run_sync(_list_context, request, p, message_of(exc))
        return render(request, "meetings/list.html", context, status=422)
    return redirect(request, f"/meetings/{meeting_id}")


def _detail_context(request: Request, p: Principal, meeting_id: UUID, error: str = "") -> dict[str, Any]:
    with request.app.state.db.reads() as session:
        meeting = service.get_meeting(session, p, meeting_id)
        out = service.meeting_out(session, meeting)
        context: dict[str, Any] = {"meeting": meeting, "out": out, "error": error, "owners": _owners(session),
                                   "kinds": KIND_LABELS, "blank": BLANK_RESOLUTIONS,
                                   "saved": request.query_params.get("saved")}
        if meeting.kind == "annual":
            year = int(meeting.period[:4])
            survey = surveys.year_survey(session, year)
            context["survey"] = surveys.summary(session, survey) if survey is not None else None
            context["year_resolutions"] = surveys.year_resolutions(session, year)
            context["year"] = year
        return context


@get("/meetings/{meeting_id:uuid}", include_in_schema=False, name="meetings:detail")
async def meeting_page(request: Request, meeting_id: FromPath[UUID]) -> Response[str]:
    p = _office(request)
    return render(request, "meetings/detail.html", await anyio.to_thread.run_sync(_detail_context, request, p, meeting_id))


def _owner_field(value: str) -> dict[str, str]:
    kind, _, owner = value.partition(":")
    key = {"unit": "owner_unit", "node": "owner_node", "user": "owner_user"}.get(kind)
    return {key: owner} if key and owner else {}


def meeting_form_data(fields: dict[str, list[str]]) -> dict[str, Any]:
    """The page's form as the service takes it: one line per attendee and agenda item, rows of resolutions."""
    first = {name: values[0] for name, values in fields.items() if values}
    data: dict[str, Any] = {"title": first.get("title", ""), "held_at": first.get("held_at") or None,
                            "attendees": lines(first.get("attendees", "")), "minutes": first.get("minutes", "")}
    if "agenda" in first:
        data["agenda"] = lines(first["agenda"])
    texts, owners, dues = fields.get("resolution_text", []), fields.get("resolution_owner", []), fields.get("resolution_due", [])
    if texts:
        data["resolutions"] = [{"text": text, "due": due, **_owner_field(owner)}
                               for text, owner, due in zip(texts, owners, dues) if text.strip()]
    return data


def _keep_figures(meeting: Meeting, agenda: list[str]) -> list[Any]:
    """Lines of the agenda as written; a line that names a built item keeps that item's figures."""
    built = {item["title"]: item for item in meeting.agenda}
    return [built.get(line, line) for line in agenda]


@post("/meetings/{meeting_id:uuid}", include_in_schema=False, name="meetings:save")
async def save_meeting_page(request: Request, meeting_id: FromPath[UUID]) -> Response[Any]:
    p = _office(request)
    fields, _ = await read_form(request)
    status = (fields.get("status") or [""])[0]

    def save() -> None:
        with request.app.state.db.transaction(actor=p) as session:
            meeting = service.get_meeting(session, p, meeting_id)
            data = meeting_form_data(fields) if fields.get("title") else {}
            if "agenda" in data:
                data["agenda"] = _keep_figures(meeting, data["agenda"])
            if meeting.status != "planned":
                data.pop("resolutions", None)
            if status:
                data["status"] = status
            service.update_meeting(session, p, meeting_id, data)

    try:
        await anyio.to_thread.run_sync(save)
    except DomainError as exc:
        context = await anyio.to_thread.run_sync(_detail_context, request, p, meeting_id, message_of(exc))
        return render(request, "meetings/detail.html", context, status=422 if isinstance(exc, InvalidField) else 409)
    return redirect(request, f"/meetings/{meeting_id}?saved=1")


@post("/surveys", include_in_schema=False, name="surveys:create")
async def create_survey_page(request: Request) -> Response[Any]:
    p = _office(request)
    fields, _ = await read_form(request)
    first = {name: values[0] for name, values in fields.items() if values}

    def save() -> str:
        try:
            year = int(first.get("year") or date.today().year)
        except ValueError:
            raise InvalidField("year", "Not one of the allowed values") from None
        with request.app.state.db.transaction(actor=p) as session:
            return str(surveys.create_survey(session, p, year, first.get("title", ""),
                                             lines(first.get("questions", "")) or None).id)

    try:
        survey_id = await anyio.to_thread.run_sync(save)
    except DomainError as exc:
        context = await anyio.to_thread.run_sync(_list_context, request, p, message_of(exc))
        return render(request, "meetings/list.html", context, status=422 if isinstance(exc, InvalidField) else 409)
    return redirect(request, f"/surveys/{survey_id}")


MEETING_OFFICE_HANDLERS = [meetings_page, create_meeting_page, meeting_page, save_meeting_page, create_survey_page]
