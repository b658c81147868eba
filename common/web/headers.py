"""Security headers on every response a node sends: a strict Content-Security-Policy and its companions."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from litestar.types import Message, Scope

# Pages where the hub, as the identity provider, hands the browser back to a registered client (a spoke, a
# connected application) on another origin: the login and second-factor forms continue to /oauth/authorize,
# the consent and sign-out forms answer with a redirect to the client. Chromium applies `form-action` to every
# redirect after a form is sent, and the client's origin is only known from the request, checked by the
# authorization server against the registered redirect URIs; so these pages carry no `form-action`.
HANDOFF_PATHS = frozenset({"/login", "/login/totp", "/oauth/authorize", "/oauth/logout"})

# One year; not `includeSubDomains`: other services of a bureau's domain may not speak TLS yet.
HSTS = "max-age=31536000"


def origin_of(url: str) -> str | None:
    """`https://hub.example:8600/some/path` → `https://hub.example:8600`; None for anything that is no web origin."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(form_targets: Iterable[str] = (), handoff: bool = False) -> str:
    """The page policy: our own files only, no inline script or style, never framed.

    `form_targets`: origins besides our own that this node's forms lead to (a spoke's sign-out goes to its hub).
    `handoff`: a page whose form ends at a client's redirect URI (see HANDOFF_PATHS).
    """
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Swagger UI's stylesheet draws its icons from data: URIs; the visit form reads a chosen photo through a
        # blob: URL to shrink it and show it before upload.
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ]
    if not handoff:
        directives.append(" ".join(["form-action 'self'", *sorted(set(form_targets))]))
    return "; ".join(directives)


class SecurityHeaders:
    """A `before_send` hook of the app: adds the headers to each response start that lacks them.

    A hook rather than a route middleware because Litestar runs route middleware only for matched routes; the
    hook sees every answer, 404 and 405 included. A response that sets its own policy (an attachment's
    `sandbox`) keeps it.
    """

    def __init__(self, *, form_targets: Iterable[str] = (), strict_transport: bool = False) -> None:
        targets = sorted({o for o in (origin_of(t) for t in form_targets) if o})
        fixed = [(b"referrer-policy", b"same-origin"), (b"x-content-type-options", b"nosniff"),
                 (b"x-frame-options", b"DENY")]
        if strict_transport:
            fixed.append((b"strict-transport-security", HSTS.encode()))
        self._fixed = fixed
        self._page_policy = content_security_policy(targets).encode()
        self._handoff_policy = content_security_policy(targets, handoff=True).encode()

    async def __call__(self, message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers: list[Any] = list(message.get("headers") or [])
        present = {bytes(name).lower() for name, _ in headers}
        if b"content-security-policy" not in present:
            handoff = scope.get("path") in HANDOFF_PATHS
            headers.append((b"content-security-policy", self._handoff_policy if handoff else self._page_policy))
        headers.extend((name, value) for name, value in self._fixed if name not in present)
        message["headers"] = headers
