"""Downloading an attachment: from this node's blob store, or (at a spoke) fetched from the hub on first use."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote
from uuid import UUID

import anyio
from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath
from litestar.response import Stream

from common import i18n, policy
from common.errors import NotFound
from common.i18n import N_
from common.models import Attachment
from common.web.errors import problem


@get("/attachments/{attachment_id:uuid}", include_in_schema=False)
async def attachment(request: Request, attachment_id: FromPath[UUID]) -> Response[Any]:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise NotAuthorizedException()
    state = request.app.state

    def find() -> Attachment:
        with state.db.reads() as session:
            return policy.get_visible(session, Attachment, attachment_id, principal)

    row = await anyio.to_thread.run_sync(find)
    store = state.blobs
    if not store.has(row.sha256):
        fetch = getattr(state, "fetch_blob", None)
        if fetch is None:
            raise NotFound()
        try:
            await anyio.to_thread.run_sync(fetch, row.sha256)
        except Exception:  # noqa: BLE001 - the hub away, or bytes that failed their check: the person is told
            return problem(request, 503, i18n.gettext(N_("This file has not reached this node yet. Try again when "
                                                         "the hub can be reached.")))
    disposition = f"inline; filename*=UTF-8''{quote(row.filename)}"
    return Stream(store.read(row.sha256), media_type=row.content_type,
                  headers={"Content-Disposition": disposition, "Cache-Control": "private, max-age=3600",
                           "X-Content-Type-Options": "nosniff"})


ATTACHMENT_HANDLERS = [attachment]
