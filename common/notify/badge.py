"""The count of a person's unread notices beside the inbox link in the header of every page."""
from __future__ import annotations

import logging
from typing import Any

from litestar import Request
from sqlalchemy.exc import SQLAlchemyError

from common.notify.service import unread_count

log = logging.getLogger("lianfu.web")


def header_unread(request: Request[Any, Any, Any]) -> int:
    """The header's count of unread notices: one indexed COUNT per full page. A failing read leaves the badge out
    rather than turning the page (an error page, perhaps) into a 500."""
    principal = getattr(request.state, "principal", None)
    if principal is None or principal.user_id is None:
        return 0
    try:
        with request.app.state.db.reads() as session:
            return unread_count(session, principal.user_id)
    except SQLAlchemyError:
        log.exception("the count of unread notices could not be read")
        return 0
