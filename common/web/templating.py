"""Jinja2 for the pages: autoescaped, translated, one base template, partials beside their pages."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request, Response

from common import i18n, reference, regions
from common.bulletins import banner as bulletin_banner
from common.notify.badge import header_unread
from common.web.htmx import is_partial
from common.web.mounted import serves

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
STATIC = Path(__file__).resolve().parents[1] / "static"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(ref=reference, region_name=regions.region_name, label=lambda table, key: i18n.gettext(table.get(key, key)) if key else "")
    env.globals["awaiting_acknowledgement"] = bulletin_banner.awaiting  # the banner's one query, only when shown
    env.globals["unread_notices"] = header_unread  # the header's badge: one indexed count
    env.filters["dt"] = lambda value, fmt="%Y-%m-%d %H:%M": _local(value).strftime(fmt) if value else ""
    return env


def _local(value: Any) -> Any:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if isinstance(value, str):
        value = datetime.fromisoformat(value)  # a moment kept as ISO text (sync state)
    return value.astimezone(ZoneInfo("Asia/Shanghai")) if getattr(value, "tzinfo", None) else value


def page_context(request: Request) -> dict[str, Any]:
    state = request.app.state
    return {
        "request": request,
        "principal": getattr(request.state, "principal", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "lang": i18n.current_language(),
        "html_lang": "zh-CN" if i18n.current_language() == "zh_Hans" else "en",
        "node_name": state.node_name,
        # Whether this node answers a route: a page offers the office's own work only where it is done.
        "serves": lambda name: serves(request.app, name),
        "max_upload_mb": state.settings.max_upload_mb,
        "static": lambda name: f"/static/{name}",
        "lang_url": lambda code: _with_query(request, lang=code),
    }


def _with_query(request: Request, **changes: str) -> str:
    """The current URL with some query parameters replaced (switching language keeps the search)."""
    from urllib.parse import urlencode

    params = {k: v for k, v in request.query_params.items() if k not in changes}
    params.update(changes)
    return f"{request.url.path}?{urlencode(params)}"


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, partial: str | None = None,
           status: int = 200, headers: dict[str, str] | None = None) -> Response[str]:
    """Render the page, or only its fragment when htmx swaps part of it."""
    name = partial if partial and is_partial(request) else template
    html = environment().get_template(name).render({**page_context(request), **(context or {})})
    if partial:
        # The same URL answers a fragment or a page: caches must keep the two apart.
        headers = {**(headers or {}), "Vary": "HX-Request, HX-History-Restore-Request"}
    return Response(html, status_code=status, media_type="text/html", headers=headers)


def render_error_page(request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None) -> Response[str]:
    return render(request, "error.html", {"problem": body}, status=status, headers=headers)
