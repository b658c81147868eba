"""The one place that decides partial vs. full page, and how to redirect an htmx request."""
from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.response import Redirect


def is_partial(request: Request) -> bool:
    """An htmx swap wants the fragment; a boosted navigation, a history restore or a plain load wants the page."""
    headers = request.headers
    return (headers.get("hx-request") == "true" and headers.get("hx-boosted") != "true"
            and headers.get("hx-history-restore-request") != "true")


def redirect(request: Request, url: str) -> Response[Any]:
    # htmx would follow a 302 and swap the target page into the fragment; tell it to navigate instead.
    if request.headers.get("hx-request") == "true":
        return Response(content=b"", status_code=204, headers={"HX-Redirect": url})
    return Redirect(path=url, status_code=303)
