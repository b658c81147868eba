"""Attachments on the web: serving one (from this node's blob store, or at a spoke fetched from the hub on first
use) so that no uploaded file ever runs as a page of ours, and the request size of the forms that upload them."""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote
from uuid import UUID

import anyio
from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath
from litestar.response import Stream
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from common.attachments import filetypes
from common import i18n, policy
from common.errors import NotFound
from common.i18n import N_
from common.models import Attachment
from common.settings import Settings
from common.web.errors import problem

MB = 1024 * 1024
# Whatever the page, the browser may run nothing of it and fetch nothing for it; a picture still shows.
SANDBOX = "sandbox; default-src 'none'"
DOWNLOAD = "application/octet-stream"
# A form's request has room for this many files of the largest size, within a cap on the whole (every file is
# held in memory while it is checked and saved).
FILES_PER_FORM = 10
FORM_CAP_MB = 100
# Room for a form's text fields and the multipart framing around its files.
FORM_FIELDS_BYTES = MB
# The most of a refused request read (and thrown away) so that the browser gets to show the refusal.
DRAIN_MAX = 1024 * MB
TOO_MUCH_AT_ONCE = N_("The files sent at once come to more than {total} MB. Each file may be at most {size} MB; "
                      "send fewer files at a time. Nothing was saved.")


def disposition(kind: str, filename: str) -> str:
    """`kind; filename="ascii"; filename*=UTF-8''…`: the plain name for old clients, the real one for the rest."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename) or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


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
    # A query when the files are in the hub's database: not on the event loop.
    if not await anyio.to_thread.run_sync(store.has, row.sha256):
        fetch = getattr(state, "fetch_blob", None)
        if fetch is None:
            raise NotFound()
        try:
            await anyio.to_thread.run_sync(fetch, row.sha256)
        except Exception:  # noqa: BLE001 - the hub away, or bytes that failed their check: the person is told
            return problem(request, 503, i18n.gettext(N_("This file has not reached this node yet. Try again when "
                                                         "the hub can be reached.")))
    # Decided by the bytes, not by the stored type: rows synced from nodes older than the upload check carry
    # whatever type the sender's browser claimed.
    picture = filetypes.picture(await anyio.to_thread.run_sync(store.head, row.sha256))
    media_type, kind = (picture.media_type, "inline") if picture is not None else (DOWNLOAD, "attachment")
    headers = {"Content-Disposition": disposition(kind, row.filename), "Cache-Control": "private, max-age=3600",
               "X-Content-Type-Options": "nosniff", "Content-Security-Policy": SANDBOX}
    return Stream(store.read(row.sha256), media_type=media_type, headers=headers)


# --- how much a form that uploads files may send --------------------------------------------------------------------

def form_limit(settings: Settings, files: int = FILES_PER_FORM) -> int:
    """Bytes one request may carry: `files` files of the largest size allowed, within the cap, plus the fields."""
    size = settings.max_upload_mb
    return min(files * size, max(size, FORM_CAP_MB)) * MB + FORM_FIELDS_BYTES


class FormTooLarge(RequestEntityTooLarge):
    """The request is larger than any form of ours sends: refused unsaved, in the person's language."""


def upload_limit(files: int = FILES_PER_FORM) -> Callable[[ASGIApp], ASGIApp]:
    """Route middleware for a form with up to `files` files: the request's limit follows `LIANFU_MAX_UPLOAD_MB`.

    Litestar's own `request_max_body_size` is fixed when the handler is declared, before any settings are read;
    so these routes turn it off and this counts the bytes instead. The refusal names the limits; a single file
    over the per-file limit but within this one reaches the form, which shows the message beside its field.
    """

    def middleware(app: ASGIApp) -> ASGIApp:
        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            settings: Settings = scope["app"].state.settings
            limit = form_limit(settings, files)
            announced = dict(scope.get("headers") or []).get(b"content-length", b"")
            received = 0

            async def refusal(more: bool) -> FormTooLarge:
                # Read the rest before answering: a server that closes on unread bytes resets the connection, and
                # the browser would show a network error instead of the message. Bounded, so nobody fills a worker.
                total = received
                while more and total < DRAIN_MAX:
                    message = await receive()
                    if message["type"] != "http.request":
                        break
                    total += len(message.get("body", b""))
                    more = message.get("more_body", False)
                return FormTooLarge(detail=i18n.gettext(TOO_MUCH_AT_ONCE, total=limit // MB,
                                                        size=settings.max_upload_mb))

            async def counted() -> Message:
                nonlocal received
                # Checked on the first read, not before: the refusal is then answered like any error of the handler.
                if announced.isdigit() and int(announced) > limit:
                    raise await refusal(more=True)
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise await refusal(more=message.get("more_body", False))
                return message

            await app(scope, counted, send)

        return limited

    return middleware


ATTACHMENT_HANDLERS = [attachment]
