"""A person's own account at the hub (/account: password, authenticator app) and the one-time setup links
(/setup/{token}) where a new or reset account gets its password. Mounted by the hub alone."""
from __future__ import annotations

import hashlib
import math
from typing import Any, Callable

import anyio
import pyotp
import segno
from litestar import Request, Response, get, post
from litestar.params import FromPath
from markupsafe import Markup
from sqlalchemy import delete

from common import i18n
from common.audit import trail as audit
from common.cases.views import error_messages
from common.errors import InvalidField
from common.i18n import N_
from common.identity import accounts, setup_links, throttle, totp
from common.identity.pages import THROTTLED, address_of, logged_in
from common.identity.passwords import check_password_policy, hash_password, verify_password
from common.models import Node, User, WebSession
from common.web.auth import open_session, require_principal
from common.web.templating import render

NO_STORE = {"Cache-Control": "no-store"}
WRONG_CURRENT = N_("The current password is wrong")
MISMATCH = N_("The two passwords are not the same")
WRONG_CODE = N_("Wrong or already used verification code")


async def _posted(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items() if key != "csrf_token"}


async def _in_thread(work: Callable[[], Any]) -> Any:
    return await anyio.to_thread.run_sync(work)


def _record(session: Any, request: Request, user: User, action: str, detail: dict[str, Any] | None = None) -> None:
    audit.record(session, request.app.state.settings.node_id, action, actor=user.username, actor_id=user.id,
                 entity_type="user", entity_id=user.id, address=address_of(request)[:64], detail=detail)


def _account_page(request: Request, session: Any, user: User, status: int = 200, **extra: Any) -> Response[str]:
    node = session.get(Node, user.node_id)
    context = {"user": accounts.user_out(user), "node_name": node.name if node else user.node_id, "may_use_totp": totp.may_use_totp(user),
               "has_totp": totp.has_totp(session, user.id), "required": accounts.needs_totp(session, user),
               "errors": {}, "message": None, "enrol": None, **extra}
    return render(request, "identity/account.html", context, status=status, headers=NO_STORE)


@get("/account", include_in_schema=False, name="account:page")
async def account_page(request: Request) -> Response[str]:
    p = require_principal(request)

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            return _account_page(request, session, accounts.get_user(session, p.user_id))

    return await _in_thread(work)


@post("/account/password", include_in_schema=False)
async def change_password(request: Request) -> Response[str]:
    p = require_principal(request)
    form = await _posted(request)
    current, new = form.get("current_password", ""), form.get("new_password", "")
    state = request.app.state
    own_session = hashlib.sha256((getattr(request.state, "session_token", None) or "").encode()).hexdigest()

    def work() -> Response[str]:
        errors: dict[str, str] = {}
        now, address = state.clock(), address_of(request)
        with state.db.transaction(actor=p) as session:
            user = accounts.get_user(session, p.user_id)
            # Guesses at the current password count as failed logins of the account: a borrowed session
            # does not buy unlimited tries at the password.
            lock = throttle.check(session, user.username, address, now)
            if lock is not None:
                errors["current_password"] = i18n.gettext(THROTTLED, minutes=math.ceil(lock.retry_after(now) / 60))
                _record(session, request, user, "security.password_change_refused", {"reason": "throttled"})
            elif not verify_password(user.password_hash, current):
                errors["current_password"] = i18n.gettext(WRONG_CURRENT)
                _record(session, request, user, "security.password_change_refused", {"reason": "wrong current password"})
                throttle.record_failure(session, user.username, address, now)
            elif new != form.get("new_password_confirm", ""):
                errors["new_password_confirm"] = i18n.gettext(MISMATCH)
            else:
                try:
                    check_password_policy(new, user.username)
                except InvalidField as exc:
                    errors["new_password"] = next(iter(error_messages(exc).values()))
            if not errors:
                user.password_hash = hash_password(new)
                # Every other session of the account ends: whoever else held one needs the new password.
                ended = session.execute(delete(WebSession).where(WebSession.user_id == user.id,
                                                                 WebSession.id != own_session)).rowcount
                _record(session, request, user, "account.password_changed", {"other_sessions_ended": ended or 0})
                session.flush()
                return _account_page(request, session, user, message=i18n.gettext(N_("Your password was changed.")))
        with state.db.reads() as session:
            return _account_page(request, session, accounts.get_user(session, p.user_id), status=422, errors=errors)

    return await _in_thread(work)


def _qr_svg(uri: str) -> Markup:
    # Drawn here, inline: no image service and no data: URI for the page's CSP to allow.
    svg = segno.make(uri, error="m").svg_inline(scale=5, title=i18n.gettext(N_("QR code for the authenticator app")))
    return Markup(svg)  # noqa: S704 - segno's own SVG of our own URI


def _enrol_of(secret: str, sealed: str, user: User) -> dict[str, Any]:
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=totp.ISSUER)
    return {"secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)), "sealed": sealed,
            "qr": _qr_svg(uri)}


def _enrol_context(request: Request, user: User) -> dict[str, Any]:
    secret, _uri, sealed = totp.new_pending(request.app.state.settings.secret_key, user)
    return _enrol_of(secret, sealed, user)


@post("/account/totp", include_in_schema=False)
async def start_totp(request: Request) -> Response[str]:
    p = require_principal(request)

    def work() -> Response[str]:
        with request.app.state.db.reads() as session:
            user = accounts.get_user(session, p.user_id)
            if not totp.may_use_totp(user) or totp.has_totp(session, user.id):
                return _account_page(request, session, user, status=409)
            return _account_page(request, session, user, enrol=_enrol_context(request, user))

    return await _in_thread(work)


@post("/account/totp/confirm", include_in_schema=False)
async def confirm_totp(request: Request) -> Response[Any]:
    p = require_principal(request)
    form = await _posted(request)
    state = request.app.state
    key = state.settings.secret_key

    def work() -> Response[Any]:
        with state.db.transaction(actor=p) as session:
            user = accounts.get_user(session, p.user_id)
            secret = totp.pending_secret(key, user, form.get("secret", ""))
            if secret and totp.confirm(session, key, user, secret, form.get("code", ""), state.clock()):
                _record(session, request, user, "account.totp_enabled")
                return _account_page(request, session, user,
                                     message=i18n.gettext(N_("Your authenticator app is set up.")))
            _record(session, request, user, "security.totp_enrol_refused")
        with state.db.reads() as session:
            user = accounts.get_user(session, p.user_id)
            enrol = None
            if secret and not totp.has_totp(session, user.id):
                # The same secret again: the person scanned it already and only mistyped the code.
                enrol = _enrol_of(secret, form.get("secret", ""), user)
            return _account_page(request, session, user, status=422, enrol=enrol,
                                 errors={"code": i18n.gettext(WRONG_CODE)})

    return await _in_thread(work)


@post("/account/totp/remove", include_in_schema=False)
async def remove_totp(request: Request) -> Response[str]:
    p = require_principal(request)
    form = await _posted(request)
    state = request.app.state

    def work() -> Response[str]:
        with state.db.transaction(actor=p) as session:
            user = accounts.get_user(session, p.user_id)
            if totp.verify(session, state.settings.secret_key, user.id, form.get("code", ""), state.clock()) == "ok":
                totp.disable(session, user)
                _record(session, request, user, "account.totp_removed")
                return _account_page(request, session, user,
                                     message=i18n.gettext(N_("The authenticator app was removed from your account.")))
            _record(session, request, user, "security.totp_remove_refused")
        with state.db.reads() as session:
            return _account_page(request, session, accounts.get_user(session, p.user_id), status=422,
                                 errors={"remove_code": i18n.gettext(WRONG_CODE)})

    return await _in_thread(work)


# --- one-time setup links ----------------------------------------------------------------------------------------

def _link_refused(request: Request) -> Response[str]:
    return render(request, "identity/setup_refused.html", {}, status=410, headers=NO_STORE)


@get("/setup/{token:str}", include_in_schema=False, name="account:setup")
async def setup_page(request: Request, token: FromPath[str]) -> Response[str]:
    state = request.app.state

    def work() -> Response[str]:
        now = state.clock()
        with state.db.transaction() as session:
            found = setup_links.find(session, token, now)
            if found is None:
                setup_links.refuse(session, state.settings.node_id, token, address_of(request), now)
                refused = True
            else:
                refused = False
                user = accounts.user_out(found.user)
        if refused:
            return _link_refused(request)
        return render(request, "identity/setup.html", {"user": user, "errors": {}, "token": token}, headers=NO_STORE)

    return await _in_thread(work)


@post("/setup/{token:str}", include_in_schema=False)
async def setup_submit(request: Request, token: FromPath[str]) -> Response[Any]:
    form = await _posted(request)
    state = request.app.state
    password = form.get("password", "")
    user_agent = request.headers.get("user-agent", "")

    def work() -> Response[Any]:
        now = state.clock()
        with state.db.reads() as session:
            found = setup_links.find(session, token, now)
            shown = accounts.user_out(found.user) if found else None
        if found is not None and password != form.get("password_confirm", ""):
            return render(request, "identity/setup.html", {"user": shown, "token": token,
                                                           "errors": {"password_confirm": i18n.gettext(MISMATCH)}},
                          status=422, headers=NO_STORE)
        try:
            with state.db.transaction() as session:
                user = setup_links.use(session, state.settings.node_id, token, password, address_of(request), now)
                if user is None:
                    return _link_refused(request)  # the refusal, a security event, is kept with the commit
                _record(session, request, user, "login.ok", {"via": "setup link"})
                session_token = open_session(session, state.settings, user, address_of(request), user_agent)
        except InvalidField as exc:
            return render(request, "identity/setup.html", {"user": shown, "token": token, "errors": error_messages(exc)},
                          status=422, headers=NO_STORE)
        return logged_in(request, session_token, "/")

    return await _in_thread(work)


ACCOUNT_HANDLERS = [account_page, change_password, start_totp, confirm_totp, remove_totp, setup_page, setup_submit]
