"""The front page: each role's dashboard."""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from common.dashboard.home import dashboard_context
from common.dashboard.stats_pages import STATS_HANDLERS
from common.tasks import service as tasks
from common.web.auth import require_principal
from common.web.templating import render


@get("/", include_in_schema=False, sync_to_thread=True)
def home(request: Request) -> Response[Any]:
    p = require_principal(request)
    state = request.app.state
    with state.db.reads() as session:
        context = dashboard_context(session, p, state.clock(), spokes=state.at_hub)
        context.update(my_tasks=tasks.my_open_tasks(session, p), today=tasks.today(state.clock()))
    return render(request, "home.html", context)


DASHBOARD_PAGE_HANDLERS = [home, *STATS_HANDLERS]
