"""The login pages: password, then the TOTP code where the account has one; throttled answers are 429."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Callable
from urllib.parse import urlparse

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromQuery
from sqlalchemy.orm import Session

from common.identity import login as flow
from common.federation import nodestate
from common import i18n
from common.i18n import N_
from common.settings import Settings
from common.web.auth import close_session, cookie_names, open_session, session_cookie
from common.web.htmx import redirect
from common.web.templating import render

WRONG_PASSWORD = N_("Wrong username or password")
WRONG_CODE = N_("Wrong or already used verification code")
EXPIRED = N_("The login has expired. Please enter your username and password again.")
THROTTLED = N_("Too many attempts. Please try again in {minutes} min.")
NO_STORE = {"Cache-Control": "no-store"}


def safe_next(target: str | None) -> str:
    # Only paths on this site: an open redirect after login would be a phishing aid.
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return "/"
    return target


def address_of(request: Request) -> str:
    return request.client.host if request.client else ""


def now_of(request: Request) -> datetime:
    # The app's clock: tests move it instead of sleeping through a lock.
    return request.app.state.clock()


def _challenge_cookie(settings: Settings, token: str | None) -> Cookie:
    # Sent back only to /login and /login/totp, and gone with the challenge's few minutes.
    return Cookie(key=cookie_names(settings)["login"], value=token or "", path="/login", httponly=True,
                  secure=settings.cookie_secure, samesite="lax",
                  max_age=int(flow.CHALLENGE_TTL.total_seconds()) if token else 0)


def throttled(request: Request, template: str, context: dict[str, Any], retry_after: int) -> Response[str]:
    # One answer whatever the account: the same words, status and wait for a name that does not exist.
    error = i18n.gettext(THROTTLED, minutes=math.ceil(retry_after / 60))
    return render(request, template, {**context, "error": error}, status=429,
                  headers={**NO_STORE, "Retry-After": str(retry_after)})


def node_halted(request: Request, template: str, context: dict[str, Any], outcome: flow.Outcome) -> Response[str]:
    """The password was right, the node is not in service: say so, and open nothing."""
    error = nodestate.refusal(outcome.node_status or "suspended")
    return render(request, template, {**context, "error": error}, status=403, headers=NO_STORE)


async def run_step(request: Request, step: Callable[[Session], flow.Outcome],
                   offline: bool = False) -> tuple[flow.Outcome, str | None]:
    """One login step in one transaction (in a worker thread); a new session's token when the step let them in."""
    state = request.app.state
    user_agent = request.headers.get("user-agent", "")

    def work() -> tuple[flow.Outcome, str | None]:
        with state.db.transaction() as session:
            outcome = step(session)
            if outcome.status != "ok" or outcome.user is None:
                return outcome, None
            return outcome, open_session(session, state.settings, outcome.user, address_of(request), user_agent,
                                         offline=offline)

    return await anyio.to_thread.run_sync(work)


def logged_in(request: Request, token: str, target: str) -> Response[Any]:
    response = redirect(request, target)
    response.set_cookie(session_cookie(request.app.state.settings, token))
    return response


@get("/login", include_in_schema=False, sync_to_thread=False)
def login_page(request: Request, next: FromQuery[str | None] = None) -> Response[str]:  # noqa: A002
    return render(request, "identity/login.html", {"next": safe_next(next), "error": None, "username": ""})


@post("/login", include_in_schema=False)
async def login(request: Request) -> Response[Any]:
    form = await request.form()
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    state = request.app.state
    address, now = address_of(request), now_of(request)

    outcome, token = await run_step(request, lambda session: flow.password_step(
        session, state.settings.node_id, username, password, address, target, now))
    context = {"next": target, "username": username}
    if outcome.status == "throttled":
        return throttled(request, "identity/login.html", context, outcome.retry_after)
    if outcome.status == "totp" and outcome.challenge:
        response = redirect(request, "/login/totp")
        response.set_cookie(_challenge_cookie(state.settings, outcome.challenge))
        return response
    if outcome.status == "halted":
        return node_halted(request, "identity/login.html", context, outcome)
    if token is None:
        # One message for a wrong name and a wrong password: no hint which accounts exist.
        return render(request, "identity/login.html", {**context, "error": i18n.gettext(WRONG_PASSWORD)}, status=400)
    return logged_in(request, token, target)


@get("/login/totp", include_in_schema=False)
async def totp_page(request: Request) -> Response[Any]:
    state = request.app.state
    challenge, now = request.cookies.get(cookie_names(state.settings)["login"]), now_of(request)

    def is_pending() -> bool:
        with state.db.reads() as session:
            return flow.pending(session, challenge, now) is not None

    if not await anyio.to_thread.run_sync(is_pending):
        return redirect(request, "/login")
    return render(request, "identity/login_totp.html", {"error": None}, headers=NO_STORE)


@post("/login/totp", include_in_schema=False)
async def totp_submit(request: Request) -> Response[Any]:
    form = await request.form()
    code = str(form.get("code") or "")
    state = request.app.state
    challenge = request.cookies.get(cookie_names(state.settings)["login"])
    address, now = address_of(request), now_of(request)

    outcome, token = await run_step(request, lambda session: flow.totp_step(
        session, state.settings.node_id, state.settings.secret_key, challenge, code, address, now))
    if outcome.status == "throttled":
        return throttled(request, "identity/login_totp.html", {}, outcome.retry_after)
    if outcome.status == "expired":
        response = render(request, "identity/login.html", {"next": "/", "username": "", "error": i18n.gettext(EXPIRED)},
                          status=400, headers=NO_STORE)
        response.set_cookie(_challenge_cookie(state.settings, None))
        return response
    if outcome.status == "halted":
        response = node_halted(request, "identity/login.html", {"next": "/", "username": ""}, outcome)
        response.set_cookie(_challenge_cookie(state.settings, None))
        return response
    if token is None:
        return render(request, "identity/login_totp.html", {"error": i18n.gettext(WRONG_CODE)}, status=400, headers=NO_STORE)
    response = logged_in(request, token, safe_next(outcome.next_url))
    response.set_cookie(_challenge_cookie(state.settings, None))
    return response


@post("/logout", include_in_schema=False, sync_to_thread=True)
def logout(request: Request) -> Response[Any]:
    token = getattr(request.state, "session_token", None)
    if token:
        with request.app.state.db.transaction() as session:
            close_session(session, token)
    response = redirect(request, "/login")
    response.set_cookie(session_cookie(request.app.state.settings, None))
    return response


LOGIN_HANDLERS = [login_page, login, totp_page, totp_submit, logout]
