"""The /audit page: the office reads the trail, filtered as the API filters it; mounted by the hub alone."""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from common import i18n, policy
from common.audit import viewer
from common.errors import InvalidField
from common.federation.names import node_names
from common.web.auth import require_principal
from common.web.templating import render

AUDIT_PAGE = 50
FILTER_FIELDS = ("action", "actor", "node", "entity", "entity_id", "since", "until")


@get("/audit", include_in_schema=False, sync_to_thread=True, name="audit:list")
def audit_page(request: Request) -> Response[str]:
    p = require_principal(request)
    policy.require_office(p)
    values = {name: (request.query_params.get(name) or "").strip() for name in FILTER_FIELDS}
    cursor = (request.query_params.get("cursor") or "").strip()
    errors: dict[str, str] = {}
    try:
        filters = viewer.parse_filters({**values, "cursor": cursor})
    except InvalidField as exc:
        for problem in exc.problems:
            errors.setdefault(problem.field, i18n.gettext(problem.message, **problem.params))
        filters = None
    with request.app.state.db.reads() as session:
        page = viewer.read_page(session, p, filters, AUDIT_PAGE) if filters else None
        nodes = node_names(session)
        record_names = viewer.record_names(session, page.entries) if page else {}
    rows = []
    for entry in page.entries if page else []:
        out = viewer.entry_out(entry, page.names)
        # A spoke acting on its own (enrolling, telling its address) is recorded as "node:<id>": named as a node.
        acting_node = entry.actor.removeprefix("node:") if entry.actor.startswith("node:") else ""
        rows.append({"entry": entry, "actor_name": out["actor"]["name"], "actor_node": nodes.get(acting_node, ""),
                     "url": viewer.entity_url(entry),
                     "record_name": nodes.get(entry.entity_id or "", "") if entry.entity_type == "node"
                     else record_names.get(entry.entity_id, ""),
                     "detail": viewer.detail_lines(out["detail"], nodes)})
    # An action or entity type the tables do not name yet is still offered, as it is spelt.
    actions = {**viewer.ACTION_LABELS, **({values["action"]: values["action"]} if values["action"] not in
                                           viewer.ACTION_LABELS and values["action"] else {})}
    entities = {**viewer.ENTITY_LABELS, **({values["entity"]: values["entity"]} if values["entity"] not in
                                            viewer.ENTITY_LABELS and values["entity"] else {})}
    if values["node"] and values["node"] not in nodes:
        nodes[values["node"]] = values["node"]
    context: dict[str, Any] = {
        "filters": values, "query": {k: v for k, v in values.items() if v}, "errors": errors, "nodes": nodes,
        "rows": rows, "next_cursor": page.next_cursor if page else None, "cursor": cursor,
        "action_labels": viewer.ACTION_LABELS, "entity_labels": viewer.ENTITY_LABELS,
        "action_options": actions, "entity_options": entities,
    }
    more = cursor and not errors
    return render(request, "audit/list.html", context, partial="audit/_more.html" if more else "audit/_rows.html",
                  status=400 if errors else 200)


AUDIT_PAGE_HANDLERS = [audit_page]
