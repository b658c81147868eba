"""The visits as a workbook: /visits.xlsx, with the list's filters and scope, all rows."""
from __future__ import annotations

from typing import Any, Iterator
from uuid import UUID

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Stream
from sqlalchemy import select

from common import i18n
from common.i18n import N_
from common.models import Node
from common.reference import HAZARD_SEVERITIES, VISIT_KINDS
from common.visits.pages import visit_query
from common.visits.service import visit_out
from common.web.auth import require_principal
from common.web.xlsx import CHUNK, EXPORT_OPT, Column, coded, local_time, send_export


def _hazards(hazards: list[Any]) -> str:
    """Each hazard on its own line, with its severity as the visit's page words it."""
    lines = []
    for hazard in hazards or []:
        severity = HAZARD_SEVERITIES.get(hazard.get("severity", ""))
        text = str(hazard.get("description", ""))
        lines.append(f"{text}（{i18n.gettext(severity)}）" if severity else text)
    return "\n".join(lines)


def visit_columns(nodes: dict[str, str]) -> list[Column]:
    """The visit workbook's columns, over rows of (`visit_out`, enterprise name)."""
    return [
        Column("visited_at", N_("Visited at"), lambda r: local_time(r[0]["visited_at"]), 17),
        Column("enterprise", N_("Enterprise name"), lambda r: r[1], 32),
        coded("kind", N_("Kind of visit"), VISIT_KINDS, lambda r: r[0]["kind"], 14),
        Column("visitors", N_("Visitors"), lambda r: r[0]["visitors"], 16),
        Column("topic", N_("Topic"), lambda r: r[0]["topic"], 20),
        Column("attendance", N_("Attendance"), lambda r: r[0]["attendance"], 8),
        Column("findings", N_("Findings"), lambda r: r[0]["findings"], 40),
        Column("hazards", N_("Hazards"), lambda r: _hazards(r[0]["hazards"]), 40),
        Column("guidance", N_("Guidance"), lambda r: r[0]["guidance"], 40),
        Column("node", N_("Node"), lambda r: nodes.get(r[0]["node"], r[0]["node"]), 20),
    ]


@get("/visits.xlsx", include_in_schema=False, sync_to_thread=True, opt=EXPORT_OPT)
def visits_workbook(request: Request, q: FromQuery[str | None] = None, enterprise_id: FromQuery[UUID | None] = None,
                    kind: FromQuery[str | None] = None, date_from: FromQuery[str | None] = None,
                    date_to: FromQuery[str | None] = None) -> Stream:
    p = require_principal(request)
    db = request.app.state.db
    filters = {"q": q or "", "kind": kind or "", "date_from": date_from or "", "date_to": date_to or "",
               "enterprise_id": str(enterprise_id or "")}
    with db.reads() as session:
        nodes = dict(session.execute(select(Node.id, Node.name)).all())

    def rows() -> Iterator[tuple[dict[str, Any], str]]:
        stmt = visit_query(p, db.dialect, filters["q"], enterprise_id, filters["kind"], filters["date_from"],
                           filters["date_to"])
        with db.reads() as session:
            for visit, name in session.execute(stmt.execution_options(yield_per=CHUNK)):
                yield visit_out(visit, p), name

    return send_export(request, p, "visit", N_("Visit register"), "visits", visit_columns(nodes), rows(), filters)


VISIT_EXPORT_HANDLERS = [visits_workbook]
