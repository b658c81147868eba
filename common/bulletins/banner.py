"""The banner of warnings a node has not acknowledged, shown on every full page its people open."""
from __future__ import annotations

import logging
from typing import Any

from litestar import Request
from sqlalchemy.exc import SQLAlchemyError

from common.bulletins import service as bulletins

log = logging.getLogger("lianfu.web")
BANNER_LIMIT = 3


def awaiting(request: Request[Any, Any, Any]) -> list[Any]:
    """Up to BANNER_LIMIT + 1 rows (one more tells the template there are others), from one indexed query.

    The office and the liaison officers work at the hub node, which is never a target: they skip the query.
    A failing query leaves the banner out rather than turning the page (an error page, perhaps) into a 500.
    """
    principal = getattr(request.state, "principal", None)
    if principal is None or principal.role in ("office", "liaison"):
        return []
    try:
        with request.app.state.db.reads() as session:
            return bulletins.awaiting_acknowledgement(session, principal.node_id, BANNER_LIMIT + 1)
    except SQLAlchemyError:
        log.exception("the banner of unacknowledged warnings could not be read")
        return []
