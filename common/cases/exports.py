"""The case queue as a workbook: /cases.xlsx, with the queue's filters and scope, all rows."""
from __future__ import annotations

from typing import Any, Iterator

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Stream
from sqlalchemy import select

from common.cases import vocabulary
from common.cases.service import case_out
from common.cases.views import queue_filters, queue_query, unit_names
from common.i18n import N_
from common.models import Case, Enterprise, Node
from common.reference import CATEGORIES, CHANNELS, JURISDICTIONS, URGENCIES
from common.web.auth import require_principal
from common.web.xlsx import CHUNK, EXPORT_OPT, YES_NO, Column, coded, local_time, send_export


def case_columns(nodes: dict[str, str], units: dict[str, str]) -> list[Column]:
    """The case workbook's columns, over rows of (`case_out`, enterprise name)."""
    return [
        Column("number", N_("Case number"), lambda r: r[0]["number"], 20),
        Column("title", N_("Title"), lambda r: r[0]["title"], 36),
        Column("enterprise", N_("Enterprise name"), lambda r: r[1] or "", 32),
        coded("channel", N_("Channel"), CHANNELS, lambda r: r[0]["channel"], 12),
        coded("category", N_("Category"), CATEGORIES, lambda r: r[0]["category"], 20),
        coded("urgency", N_("Urgency"), URGENCIES, lambda r: r[0]["urgency"], 10),
        coded("status", N_("Status"), vocabulary.STATUS_LABELS, lambda r: r[0]["status"], 10),
        coded("emergency", N_("Emergency"), YES_NO, lambda r: r[0]["emergency"], 8),
        coded("jurisdiction", N_("Jurisdiction"), JURISDICTIONS, lambda r: r[0]["jurisdiction"], 16),
        Column("lead_unit", N_("Lead unit"), lambda r: units.get(r[0]["lead_unit"], r[0]["lead_unit"]) if r[0]["lead_unit"] else "", 16),
        Column("node", N_("Node"), lambda r: nodes.get(r[0]["node"], r[0]["node"]), 20),
        Column("created_at", N_("Date raised"), lambda r: local_time(r[0]["created_at"]), 17),
        Column("description", N_("Description"), lambda r: r[0]["description"], 60),
    ]


@get("/cases.xlsx", include_in_schema=False, sync_to_thread=True, opt=EXPORT_OPT)
def cases_workbook(request: Request, q: FromQuery[str | None] = None, status: FromQuery[str | None] = None,
                   category: FromQuery[str | None] = None, urgency: FromQuery[str | None] = None,
                   unit: FromQuery[str | None] = None) -> Stream:
    p = require_principal(request)
    db = request.app.state.db
    filters = queue_filters(p, q, status, category, urgency, unit)
    with db.reads() as session:
        nodes = dict(session.execute(select(Node.id, Node.name)).all())
        units = unit_names(session)

    def rows() -> Iterator[tuple[dict[str, Any], str | None]]:
        stmt = (queue_query(p, filters).outerjoin(Enterprise, Enterprise.id == Case.enterprise_id)
                .add_columns(Enterprise.name))
        with db.reads() as session:
            for case, name in session.execute(stmt.execution_options(yield_per=CHUNK)):
                yield case_out(case, p), name

    return send_export(request, p, "case", N_("Case register"), "cases", case_columns(nodes, units), rows(), filters)


CASE_EXPORT_HANDLERS = [cases_workbook]
