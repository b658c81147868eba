"""The roster's pages: the enterprises a person may see, and one enterprise's file."""
from __future__ import annotations

from uuid import UUID

from litestar.params import FromPath, FromQuery
from litestar import Request, Response, get
from sqlalchemy import select

from common import policy
from common.i18n import N_
from common.api.deps import OffsetQ
from common.models import Case, Enterprise, Node, Person, Visit
from common.reference import INDUSTRIES, RISK_LEVELS
from common.roster import service as roster
from common.roster.picker import FIELDS as PICKER_FIELDS, enterprise_picker
from common.cases.views import STATUS_FILTER
from common.web.auth import require_principal
from common.web.templating import render

ROSTER_PAGE = 30
KEY_FILTER = {"1": N_("Key enterprises only"), "0": N_("Not key enterprises")}


def _flag(value: FromPath[str | None]) -> bool | None:
    return {"1": True, "0": False, "true": True, "false": False}.get((value or "").lower())


@get("/enterprises", include_in_schema=False, sync_to_thread=True)
def enterprises_page(request: Request, q: FromQuery[str | None] = None, industry: FromQuery[str | None] = None, risk_level: FromQuery[str | None] = None,
                     is_key: FromQuery[str | None] = None, offset: OffsetQ = 0) -> Response[str]:
    p = require_principal(request)
    offset = max(0, offset)
    with request.app.state.db.reads() as session:
        stmt = roster.enterprise_query(p, request.app.state.db.dialect, q, None, industry or None, None, _flag(is_key),
                                       risk_level or None)
        rows = session.scalars(stmt.limit(ROSTER_PAGE + 1).offset(offset)).all()
        nodes = dict(session.execute(select(Node.id, Node.name)).all())
    context = {
        "enterprises": rows[:ROSTER_PAGE], "has_more": len(rows) > ROSTER_PAGE, "offset": offset, "page_size": ROSTER_PAGE,
        "q": q or "", "industry": industry or "", "risk_level": risk_level or "", "is_key": is_key or "",
        "industries": INDUSTRIES, "risk_levels": RISK_LEVELS, "nodes": nodes, "key_filter": KEY_FILTER,
        "can_add": policy.may_write(p, "enterprise", "create"),
    }
    return render(request, "roster/list.html", context, partial="roster/_rows.html")


@get("/enterprises/{enterprise_id:uuid}", include_in_schema=False, sync_to_thread=True)
def enterprise_page(request: Request, enterprise_id: FromPath[UUID]) -> Response[str]:
    p = require_principal(request)
    with request.app.state.db.reads() as session:
        enterprise = policy.get_visible(session, Enterprise, enterprise_id, p)
        people = session.scalars(policy.scoped(Person, p).where(Person.enterprise_id == enterprise.id)
                                 .order_by(Person.name).limit(200)).all()
        visits = session.scalars(policy.scoped(Visit, p).where(Visit.enterprise_id == enterprise.id)
                                 .order_by(Visit.visited_at.desc()).limit(50)).all()
        node = session.get(Node, enterprise.node_id)
        cases = session.scalars(policy.scoped(Case, p).where(Case.enterprise_id == enterprise.id)
                                .order_by(Case.created_at.desc()).limit(50)).all()
    everyone = [roster.person_out(x, p) for x in people]
    context = {
        "cases": cases, "status_labels": STATUS_FILTER,
        "enterprise": roster.enterprise_out(enterprise, p),
        "people": [x for x in everyone if not x["left_on"]], "former": [x for x in everyone if x["left_on"]],
        "visits": visits, "node": node, "industries": INDUSTRIES, "risk_levels": RISK_LEVELS,
        "can_edit": policy.may_write(p, "enterprise", "update", enterprise.node_id),
        "can_add_person": policy.may_write(p, "person", "create", enterprise.node_id),
        "can_edit_people": policy.may_write(p, "person", "update", enterprise.node_id),
        "can_reveal": policy.may_reveal(p),
    }
    return render(request, "roster/detail.html", context)


@get("/enterprises/picker", include_in_schema=False, sync_to_thread=True)
def picker_page(request: Request, field: FromQuery[str] = "enterprise_id", q: FromQuery[str | None] = None) -> Response[str]:
    """The enterprise picker's matches for what was typed (its search box's own name, or `q`), the enterprise
    already chosen (sent under the form's field name) kept among them; served by this node, hub or spoke."""
    p = require_principal(request)
    if field not in PICKER_FIELDS:
        field = "enterprise_id"
    params = request.query_params
    term = q if q is not None else params.get(PICKER_FIELDS[field], "")
    with request.app.state.db.reads() as session:
        picker = enterprise_picker(session, p, request.app.state.db.dialect, field, term, params.get(field))
    return render(request, "roster/_picker_results.html", {"picker": picker})


ROSTER_PAGE_HANDLERS = [enterprises_page, picker_page, enterprise_page]
