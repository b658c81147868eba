"""Pages of the visits' journeys: the list, logging a visit from a phone, one visit, the plan, the lists."""
from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath, FromQuery
from litestar.types import ControllerRouterHandler

from common.attachments import filetypes
from common import i18n, policy
from common.api.deps import OffsetQ
from common.errors import InvalidField
from common.i18n import N_
from common.models import Attachment, Enterprise, Visit
from common.policy import Principal
from common.reference import HAZARD_SEVERITIES, VISIT_KINDS
from common.attachments import service as attachments
from common.roster import service as roster
from common.roster.picker import enterprise_picker
from common.center import settings
from common.visits import plan as visit_plan
from common.visits import service as visits
from common.visits.reference import CADENCE_KEY, CHECK_RESULTS, CHECKLIST_KEY, item_label
from common.visits import forms
from common.visits import settings_page as visit_settings
from common.attachments.pages import upload_limit
from common.web.htmx import redirect
from common.web.templating import render

VISIT_PAGE = 30
MAX_PHOTOS = 10
NOT_A_PHOTO = N_("Only photos can be attached here")
TOO_MANY_PHOTOS = N_("At most {max} photos per visit")


def _principal(request: Request) -> Principal:
    """Pages answer strangers with the login page (the error handler redirects a 401)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise NotAuthorizedException()
    return principal


# --- the list -------------------------------------------------------------------------------------------------

def visit_query(p: Principal, dialect: str, q: str, enterprise_id: UUID | None, kind: str, date_from: str,
                 date_to: str) -> Any:
    """Visits `p` may see with their enterprise's name, filtered as the list's form asks."""
    stmt = policy.scoped(Visit, p).join(Enterprise, Enterprise.id == Visit.enterprise_id).add_columns(Enterprise.name)
    if q.strip():
        matching = roster.enterprise_query(p, dialect, q).with_only_columns(Enterprise.id).order_by(None)
        stmt = stmt.where(Visit.enterprise_id.in_(matching))
    if enterprise_id:
        stmt = stmt.where(Visit.enterprise_id == enterprise_id)
    if kind in VISIT_KINDS:
        stmt = stmt.where(Visit.kind == kind)
    if first := forms.parse_day(date_from):
        stmt = stmt.where(Visit.visited_at >= forms.day_start(first))
    if last := forms.parse_day(date_to):
        stmt = stmt.where(Visit.visited_at < forms.day_end(last))
    return stmt.order_by(Visit.visited_at.desc(), Visit.id.desc())


# A GET and a POST on one path must both be async (Litestar mixes them up otherwise): the reads run in a thread.
@get("/visits", include_in_schema=False)
async def visits_page(request: Request, q: FromQuery[str | None] = None, enterprise_id: FromQuery[UUID | None] = None,
                      kind: FromQuery[str | None] = None, date_from: FromQuery[str | None] = None,
                      date_to: FromQuery[str | None] = None, offset: OffsetQ = 0) -> Response[str]:
    p = _principal(request)
    filters = {"q": q or "", "kind": kind or "", "date_from": date_from or "", "date_to": date_to or "",
               "enterprise_id": str(enterprise_id or "")}
    context = await anyio.to_thread.run_sync(_list_context, request, p, filters, enterprise_id, max(0, offset))
    return render(request, "visits/list.html", context, partial="visits/_rows.html")


def _list_context(request: Request, p: Principal, filters: dict[str, str], enterprise_id: UUID | None,
                  offset: int) -> dict[str, Any]:
    """One page of the list, one row more than shown to know whether a next page exists."""
    db = request.app.state.db
    with db.reads() as session:
        stmt = visit_query(p, db.dialect, filters["q"], enterprise_id, filters["kind"], filters["date_from"],
                            filters["date_to"])
        rows = session.execute(stmt.limit(VISIT_PAGE + 1).offset(offset)).all()
        photo_counts = _photo_counts(session, p, [row[0].id for row in rows])
    return {"rows": rows[:VISIT_PAGE], "has_more": len(rows) > VISIT_PAGE, "offset": offset, "page_size": VISIT_PAGE,
            "filters": filters, "photo_counts": photo_counts, "can_log": _can_log(p)}


def _photo_counts(session: Any, p: Principal, visit_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Photos per listed visit, in one query rather than one per row."""
    if not visit_ids:
        return {}
    found = session.scalars(policy.scoped(Attachment, p).with_only_columns(Attachment.entity_id)
                            .where(Attachment.entity_type == "visit", Attachment.entity_id.in_(visit_ids))).all()
    counts: dict[uuid.UUID, int] = {}
    for visit_id in found:
        counts[visit_id] = counts.get(visit_id, 0) + 1
    return counts


def _can_log(p: Principal) -> bool:
    """Whether to offer "log a visit": the same roles the visit service lets create one."""
    return p.role in policy.WRITERS["visit"]["create"]


# --- logging a visit --------------------------------------------------------------------------------------------

def _form_context(request: Request, p: Principal, values: dict[str, Any], errors: dict[str, str],
                  enterprise_q: str = "") -> dict[str, Any]:
    """The form with the office's current checklist; the draft is kept per node and person on the device."""
    with request.app.state.db.reads() as session:
        picker = enterprise_picker(session, p, request.app.state.db.dialect, "enterprise_id", enterprise_q,
                                   values.get("enterprise_id", ""), required=True)
        checklist = settings.get(session, CHECKLIST_KEY)
    language = i18n.current_language()
    return {"values": values, "errors": errors, "enterprise_picker": picker, "hazards": forms.hazard_rows(values),
            "checklist": [{**item, "text": item_label(item, language)} for item in checklist],
            "check_results": CHECK_RESULTS, "kinds": VISIT_KINDS, "severities": HAZARD_SEVERITIES,
            "draft_key": f"lianfu:visit-draft:{request.app.state.settings.node_id}:{p.username}",
            "max_photos": MAX_PHOTOS}


@get("/visits/new", include_in_schema=False, sync_to_thread=True)
def new_visit_page(request: Request, enterprise_id: FromQuery[str | None] = None,
                   enterprise_q: FromQuery[str | None] = None) -> Response[str]:
    p = _principal(request)
    policy.require_write(p, "visit", "create")
    context = _form_context(request, p, forms.blank_values(enterprise_id or ""), {}, enterprise_q or "")
    return render(request, "visits/new.html", context, partial="visits/_form.html")


async def _photos(form: Any, store: Any) -> list[tuple[str, str, bytes]]:
    """The photos sent with the form (a file input left empty sends a nameless part: not a photo).

    A photo is known by its bytes: an SVG or a page sent as `image/…` is no photo.
    """
    files = [item for item in form.getall("photos", []) if isinstance(item, UploadFile) and item.filename]
    if len(files) > MAX_PHOTOS:
        raise InvalidField("photos", TOO_MANY_PHOTOS, max=MAX_PHOTOS)
    photos = [(item.filename, item.content_type, await item.read()) for item in files]
    for filename, _, content in photos:
        attachments.check_upload(store, filename, content, field="photos")
        if filetypes.picture(content[:16]) is None:
            raise InvalidField("photos", NOT_A_PHOTO)
    return photos


def _save_visit(state: Any, p: Principal, data: dict[str, Any], photos: list[tuple[str, str, bytes]]) -> uuid.UUID:
    """The visit and its photos in one transaction: a refused photo leaves no visit behind."""
    with state.db.transaction(actor=p) as session:
        visit = visits.create_visit(session, p, data)
        for filename, content_type, content in photos:
            attachments.add_attachment(session, p, state.blobs, "visit", visit.id, filename, content_type, content)
        return visit.id


@post("/visits", include_in_schema=False, request_max_body_size=None, middleware=[upload_limit(MAX_PHOTOS)])
async def create_visit_page(request: Request) -> Response[Any]:
    p = _principal(request)
    form = await request.form()
    data = forms.visit_data(form)
    try:
        photos = await _photos(form, request.app.state.blobs)
        visit_id = await anyio.to_thread.run_sync(_save_visit, request.app.state, p, data, photos)
    except InvalidField as exc:
        context = await anyio.to_thread.run_sync(_form_context, request, p, forms.form_values(data), forms.error_map(exc))
        return render(request, "visits/new.html", context, partial="visits/_form.html", status=422)
    return redirect(request, f"/visits/{visit_id}?saved=1")


# --- one visit --------------------------------------------------------------------------------------------------

@get("/visits/{visit_id:uuid}", include_in_schema=False, sync_to_thread=True)
def visit_page(request: Request, visit_id: FromPath[UUID], saved: FromQuery[str | None] = None) -> Response[str]:
    p = _principal(request)
    with request.app.state.db.reads() as session:
        visit = policy.get_visible(session, Visit, visit_id, p)
        enterprise = session.get(Enterprise, visit.enterprise_id)
        photos = session.scalars(policy.scoped(Attachment, p).where(Attachment.entity_type == "visit",
                                                                    Attachment.entity_id == visit.id)
                                 .order_by(Attachment.created_at, Attachment.id)).all()
        checklist = settings.get(session, CHECKLIST_KEY)
    can_raise = p.role in policy.WRITERS["case"]["create"]
    context = {
        "visit": visit, "enterprise": enterprise, "photos": photos, "saved": bool(saved),
        "checklist": forms.checklist_rows(checklist, visit.checklist or {}), "check_results": CHECK_RESULTS,
        "case_url": forms.case_link(visit, enterprise) if can_raise else None,
        "hazard_case_urls": [forms.case_link(visit, enterprise, h) for h in visit.hazards or []] if can_raise else [],
        "draft_key": f"lianfu:visit-draft:{request.app.state.settings.node_id}:{p.username}",
    }
    return render(request, "visits/detail.html", context)


# --- the plan: who is due a visit -------------------------------------------------------------------------------

@get("/visits/plan", include_in_schema=False, sync_to_thread=True)
def plan_page(request: Request) -> Response[str]:
    p = _principal(request)
    with request.app.state.db.reads() as session:
        due, total = visit_plan.overdue(session, p, limit=200)
        cadence = settings.get(session, CADENCE_KEY)
    return render(request, "visits/plan.html", {"due": due, "due_total": total, "cadence": cadence,
                                                "can_log": _can_log(p)})


# --- the office's lists -------------------------------------------------------------------------------------------

@get("/visits/settings", include_in_schema=False)
async def settings_page(request: Request, saved: FromQuery[str | None] = None) -> Response[str]:
    p = _principal(request)
    policy.require_office(p)
    state = request.app.state

    def read() -> dict[str, Any]:
        with state.db.reads() as session:
            return visit_settings.page_context(session, request.app.state.at_hub)

    context = await anyio.to_thread.run_sync(read)
    return render(request, "visits/settings.html", {**context, "saved": bool(saved)})


VISIT_PAGE_HANDLERS: list[ControllerRouterHandler] = [
    visits_page, new_visit_page, create_visit_page, visit_page, plan_page, settings_page]
