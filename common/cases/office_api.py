"""The JSON API of the office's own settings of cases, mounted by the hub alone: the deadlines."""
from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, put
from litestar.params import JSONBody

from common import policy
from common.api.deps import Caller
from common.cases import deadlines
from common.center import settings


class DeadlinesController(Controller):
    path = "/api/v1/settings/deadlines"
    tags = ["settings"]

    @get("/", sync_to_thread=True, summary="Sign-for and report-back deadlines, and the working-day calendar (office)")
    def read(self, request: Request, principal: Caller) -> dict[str, Any]:
        policy.require_office(principal)
        with request.app.state.db.reads() as session:
            return deadlines.current(session)

    @put("/", sync_to_thread=True, summary="Change the deadlines; new dispatches follow them (office)")
    def change(self, request: Request, principal: Caller, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        policy.require_office(principal)
        with request.app.state.db.transaction(actor=principal) as session:
            return settings.put(session, principal, deadlines.DEADLINES_KEY, data)


DEADLINE_API_HANDLERS = [DeadlinesController]
