"""The statistics page (charts with their tables) and its Excel download, for whoever is logged in, in their scope."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get
from litestar.params import FromQuery
from sqlalchemy import select, true

from common import i18n
from common.models import Node
from common.web.auth import require_principal
from common.dashboard.stats import XLSX, chart_data, figures_for, filename, node_scope, workbook
from common.web.templating import render


def _figures(request: Request, language: str, node: str | None) -> tuple[Any, list[Any]]:
    """The figures in `p`'s scope, or one node's subtree of it; with the nodes that may be chosen."""
    p = require_principal(request)
    state = request.app.state
    with state.db.reads() as session:
        scope = node_scope(session, p, node) if node else None
        figures = figures_for(session, p, state.db.dialect, state.clock(), language, scope)
        nodes = [] if p.role == "liaison" else list(session.execute(
            select(Node.id, Node.name).where(Node.kind != "hub", Node.id.in_(sorted(p.subtree)) if not p.is_office else true())
            .order_by(Node.path)))
    return figures, nodes


@get("/stats", include_in_schema=False, sync_to_thread=True)
def stats_page(request: Request, node: FromQuery[str | None] = None) -> Response[str]:
    language = i18n.current_language()
    figures, nodes = _figures(request, language, node or None)
    # Escaped for a <script type="application/json">: "</" could otherwise close the tag early.
    charts = json.dumps(chart_data(figures, language), ensure_ascii=False).replace("</", "<\\/")
    return render(request, "dashboard/stats.html", {"figures": figures, "charts_json": charts, "nodes": nodes,
                                                    "node": node or ""})


@get("/stats.xlsx", include_in_schema=False, sync_to_thread=True)
def stats_workbook(request: Request, node: FromQuery[str | None] = None) -> Response[bytes]:
    """The same figures as the page, as a workbook with Chinese headers whatever the page's language."""
    figures, _ = _figures(request, "zh_Hans", node or None)
    name = filename(request.app.state.clock())
    chinese = quote(f"警企联服统计-{name.removeprefix('lianfu-stats-')}")
    return Response(workbook(figures), media_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{chinese}",
        "Cache-Control": "no-store",
    })


STATS_HANDLERS = [stats_page, stats_workbook]
