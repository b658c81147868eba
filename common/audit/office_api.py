"""GET /api/v1/audit: the audit trail for the office, mounted by the hub alone."""
from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery

from common import policy
from common.api.deps import Caller, LimitQ
from common.audit import viewer
from common.errors import InvalidField
from common.web.errors import field_errors, problem


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get("/", sync_to_thread=True, name="audit:api", summary="The audit trail, newest first (office)")
    def list_entries(self, request: Request, principal: Caller, limit: LimitQ = viewer.DEFAULT_LIMIT,
                     action: FromQuery[str | None] = None, actor: FromQuery[str | None] = None,
                     node: FromQuery[str | None] = None, entity: FromQuery[str | None] = None,
                     entity_id: FromQuery[str | None] = None, since: FromQuery[str | None] = None,
                     until: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None) -> Response[Any]:
        policy.require_office(principal)
        try:
            filters = viewer.parse_filters({"action": action, "actor": actor, "node": node, "entity": entity,
                                            "entity_id": entity_id, "since": since, "until": until, "cursor": cursor})
        except InvalidField as exc:
            # A filter the list cannot apply is a bad request, named field by field; nothing was read.
            errors = field_errors(exc)
            return problem(request, 400, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)
        with request.app.state.db.reads() as session:
            page = viewer.read_page(session, principal, filters, limit)
        return Response({"items": [viewer.entry_out(e, page.names) for e in page.entries], "limit": limit,
                         "next_cursor": page.next_cursor})


AUDIT_API_HANDLERS = [AuditController]
