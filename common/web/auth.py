"""Page sessions, CSRF and the principal of each request: one before-request hook for every route."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import anyio
from litestar import Request
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from common.federation import nodestate
from common.identity import accounts
from common import i18n, policy
from common.db import Database
from common.i18n import N_
from common.models import User, WebSession, utcnow
from common.policy import Principal, load_principal
from common.settings import Settings
from common.web.htmx import redirect
from common.web.proxies import client_address, parse_networks

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# What an account held for its second factor may still reach.
SECOND_FACTOR_OPEN = ("/account", "/logout", "/login", "/static/", "/setup/", "/healthz")


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def cookie_names(settings: Settings) -> dict[str, str]:
    prefix = settings.cookie_prefix
    # `login` holds a half-finished login (password right, second factor owed): never a session.
    return {"session": f"{prefix}_session", "csrf": f"{prefix}_csrf", "lang": f"{prefix}_lang", "login": f"{prefix}_login"}


def csrf_token_for(settings: Settings, cookie_value: str, session_token: str | None = None) -> str:
    """The token forms carry: an HMAC of the CSRF cookie and of the page session it was rendered for, so neither a
    planted cookie nor a token earned in another session (the attacker's own) passes for this one."""
    bound = f"{cookie_value}\x00{_sha256(session_token) if session_token else ''}"
    return hmac.new(settings.secret_key.encode(), bound.encode(), hashlib.sha256).hexdigest()


def web_context_middleware(app: ASGIApp) -> ASGIApp:
    """Per request: choose the language, make sure the browser holds a CSRF cookie, report the server time."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        settings: Settings = scope["app"].state.settings
        names = cookie_names(settings)
        _resolve_client(scope, settings)
        request: Request[Any, Any, Any] = Request(scope)
        cookies = request.cookies
        query_lang = request.query_params.get("lang")
        language = i18n.negotiate(query_lang, request.headers.get("accept-language"), cookies.get(names["lang"]))
        csrf_cookie = cookies.get(names["csrf"]) or ""
        new_csrf = None
        if len(csrf_cookie) < 32:
            csrf_cookie = new_csrf = secrets.token_urlsafe(32)
        state = scope.setdefault("state", {})
        state["csrf_cookie"] = csrf_cookie
        state["csrf_token"] = csrf_token_for(settings, csrf_cookie, cookies.get(names["session"]))
        token = i18n.set_language(language)
        started = time.perf_counter()

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # Server time of the request, for operators and the benchmarks (RFC: Server-Timing).
                headers.append((b"server-timing", f"app;dur={(time.perf_counter() - started) * 1000:.2f}".encode()))
                if new_csrf:
                    headers.append(_set_cookie(names["csrf"], new_csrf, settings, max_age=None))
                if query_lang and i18n.normalize(query_lang):
                    headers.append(_set_cookie(names["lang"], language, settings, max_age=365 * 86400, http_only=False))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_with_cookies)
        finally:
            i18n.reset_language(token)

    return middleware


def _resolve_client(scope: Scope, settings: Settings) -> None:
    """Put the real client in the scope (every later `request.client` reads it) when a trusted proxy forwarded it."""
    networks = parse_networks(settings.trusted_proxies)
    client = scope.get("client")
    if not networks or not client:
        return
    forwarded = [value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"x-forwarded-for"]
    if forwarded:
        scope["client"] = (client_address(client[0], forwarded, networks), client[1])


def _set_cookie(name: str, value: str, settings: Settings, max_age: int | None, http_only: bool = True) -> tuple[bytes, bytes]:
    cookie = Cookie(key=name, value=value, max_age=max_age, httponly=http_only, secure=settings.cookie_secure,
                    samesite="lax", path="/")
    return b"set-cookie", cookie.to_header(header="").strip().encode("latin-1")


async def before_request(request: Request[Any, Any, Any]) -> Any:
    """Resolve who is asking, then refuse an unsafe cookie-authenticated request without its CSRF token."""
    state = request.app.state
    settings: Settings = state.settings
    names = cookie_names(settings)
    session_token = request.cookies.get(names["session"])
    authorization = request.headers.get("authorization", "")
    principal = None
    bearer = authorization[:7].lower() == "bearer "
    if bearer:
        verifier = getattr(state, "bearer_verifier", None)
        if verifier is None:
            raise NotAuthorizedException(i18n.gettext(N_("Bearer tokens are not accepted here")))
        principal = await verifier(request, authorization[7:].strip())
    elif session_token:
        address = request.client.host if request.client else ""
        principal = await anyio.to_thread.run_sync(_principal_from_session, state.db, session_token, address)
    request.state.principal = principal
    request.state.session_token = session_token if principal and not bearer else None

    # Only a request a bearer token authenticated carries no ambient credential to forge; any other Authorization
    # header (Basic, Negotiate …) authenticates nothing here and leaves the cookie session to be protected.
    by_bearer = bearer and principal is not None
    # An API call with no credentials at all has no session to protect: it is answered 401, not refused as a stale form.
    anonymous_api = principal is None and request.url.path.startswith("/api/")
    if request.method in UNSAFE and not by_bearer and not anonymous_api and not request.route_handler.opt.get("csrf_exempt"):
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            sent = form.get("csrf_token")
        expected = request.state.csrf_token
        if not sent or not hmac.compare_digest(str(sent), expected):
            raise PermissionDeniedException(i18n.gettext(N_("The form has expired or did not come from this site. Reload the page and try again.")))
    if principal is not None and principal.needs_second_factor and not request.url.path.startswith(SECOND_FACTOR_OPEN):
        # Held at the account page until the second factor the office requires is set up.
        if request.url.path.startswith("/api/"):
            raise PermissionDeniedException(i18n.gettext(N_("Set up the second factor on your account page first.")))
        return redirect(request, "/account")
    return None


def _principal_from_session(db: Database, token: str, address: str) -> Principal | None:
    with db.reads() as session:
        row = session.execute(
            select(WebSession, User, nodestate.halted(User.node_id).label("halted"))
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.id == _sha256(token), WebSession.expires_at > utcnow(), User.active.is_(True),
                   User.deleted_at.is_(None))
        ).first()
        if row is None:
            return None
        web_session, user, halted = row
        if not halted:
            principal = load_principal(session, user, offline=web_session.offline, address=address)
            # An office or leader account the office requires a second factor of is held at /account until it has
            # one (such accounts log in at the hub only: a spoke's people are neither).
            if accounts.needs_totp(session, user):
                principal = replace(principal, needs_second_factor=True)
            return principal
    # The node was suspended or retired while the session lived: it ends for good, and reinstating the node
    # later asks for a new login rather than reviving this one.
    with db.transaction() as session:
        session.execute(delete(WebSession).where(WebSession.id == web_session.id))
    return None


def require_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise NotAuthorizedException(i18n.gettext(N_("Please log in")))
    return principal


def require_office_principal(request: Request[Any, Any, Any]) -> Principal:
    """The office's pages: a logged-in person of the office role, or 401/403."""
    principal = require_principal(request)
    policy.require_office(principal)
    return principal


# --- logging in and out ----------------------------------------------------------------------------------------

def open_session(session: Session, settings: Settings, user: User, address: str, user_agent: str,
                 offline: bool = False) -> str:
    """A brand-new session id at every login, so a planted session id is worth nothing."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.add(WebSession(id=_sha256(token), user_id=user.id, created_at=now,
                           expires_at=now + timedelta(hours=settings.session_hours), address=address[:64],
                           user_agent=user_agent[:300], offline=offline))
    return token


def close_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id == _sha256(token)))


def session_cookie(settings: Settings, token: str | None) -> Cookie:
    name = cookie_names(settings)["session"]
    if token is None:
        return Cookie(key=name, value="", max_age=0, httponly=True, secure=settings.cookie_secure, samesite="lax", path="/")
    return Cookie(key=name, value=token, max_age=settings.session_hours * 3600, httponly=True,
                  secure=settings.cookie_secure, samesite="lax", path="/")
