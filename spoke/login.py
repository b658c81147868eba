"""Logging in at a spoke: through the hub (code + PKCE, the spoke as relying party), or offline for its own people."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any, NamedTuple
from urllib.parse import urlencode

import anyio
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromQuery
from sqlalchemy import select

from common.audit import trail as audit
from common.identity import login as flow
from common.federation import nodestate
from common import i18n, policy
from common.i18n import N_
from common.models import User
from common.settings import Settings
from common.web.auth import close_session, open_session, session_cookie
from common.web.errors import problem
from common.web.htmx import redirect
from common.identity.pages import NO_STORE, WRONG_PASSWORD, address_of, logged_in, node_halted, now_of, run_step, safe_next, throttled
from common.web.templating import render
from spoke import standing
from sync.hub_link import HubLink, HubRefused, HubUnreachable

RP_TTL = 600
ID_TOKEN_ALGS = ["RS256"]
LEEWAY = 60
OFFLINE_NOTICE = N_("The hub cannot be reached just now. People of this node can log in here offline; "
                    "everything they do is kept and sent to the hub when it is back.")
NOT_THIS_NODE = N_("This account does not belong to this node or the nodes below it. Log in at your own node.")
HUB_REFUSED = N_("The hub refused this login: {reason}")


def base_url_of(settings: Settings) -> str:
    """Where browsers reach this spoke (its login callback is registered at the hub under it)."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- the short-lived record of a login under way (state, nonce, PKCE verifier), signed, in a cookie ---------------

def _rp_cookie_name(settings: Settings) -> str:
    return f"{settings.cookie_prefix}_rp"


def _seal(settings: Settings, value: dict[str, Any]) -> str:
    body = _b64(json.dumps(value, separators=(",", ":")).encode())
    mac = hmac.new(settings.secret_key.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _unseal(settings: Settings, raw: str | None) -> dict[str, Any] | None:
    if not raw or "." not in raw:
        return None
    body, mac = raw.rsplit(".", 1)
    expected = hmac.new(settings.secret_key.encode(), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    return value if isinstance(value, dict) and value.get("at", 0) + RP_TTL > time.time() else None


def _rp_cookie(settings: Settings, value: str | None) -> Cookie:
    return Cookie(key=_rp_cookie_name(settings), value=value or "", path="/auth", httponly=True,
                  secure=settings.cookie_secure, samesite="lax", max_age=RP_TTL if value else 0)


# --- the ID token of the login, kept for logging out at the hub too ------------------------------------------------

def _id_token_cookie(settings: Settings, id_token: str | None) -> Cookie:
    # Sent back only to /logout, the one place it is needed: there it is the hint that lets the hub end its own
    # session without asking again (OpenID Connect RP-initiated logout).
    return Cookie(key=f"{settings.cookie_prefix}_id_token", value=id_token or "", path="/logout", httponly=True,
                  secure=settings.cookie_secure, samesite="lax",
                  max_age=settings.session_hours * 3600 if id_token else 0)


def _subject_of(id_token: str) -> str | None:
    """Whom the kept ID token names (unverified: the hub checks its signature when it is handed back)."""
    try:
        claims = json.loads(extract_compact(id_token.encode()).payload)
    except (JoseError, ValueError, UnicodeError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return str(subject) if subject else None


# --- a node the hub no longer serves --------------------------------------------------------------------------------

def _node_halted_page(request: Request, status: str) -> Response[Any]:
    response = render(request, "identity/login_refused.html", {"message": nodestate.refusal(status), "switch_account": False},
                      status=403, headers=NO_STORE)
    response.set_cookie(_rp_cookie(request.app.state.settings, None))
    return response


# --- pages ----------------------------------------------------------------------------------------------------------

def _offline_form(request: Request, target: str, error: str | None = None, status: int = 200,
                  username: str = "") -> Response[str]:
    return render(request, "identity/login.html", {"next": target, "username": username, "error": error,
                                          "offline_notice": i18n.gettext(OFFLINE_NOTICE)},
                  status=status, headers=NO_STORE)


# How long the login page waits for the hub before it offers the offline login: a person at the door, not a sync
# round (a hub that does not answer at all, on a poor network, would otherwise hold the page for the link's timeout).
LOGIN_PROBE_SECONDS = 3.0


def _hub_ready(link: HubLink, base_url: str) -> dict[str, Any]:
    """The hub's metadata, once this spoke's address is registered there (raises when the hub cannot be reached)."""
    if getattr(link, "registered_base_url", None) != base_url:
        link.call("PUT", "/api/v1/sync/address", timeout=LOGIN_PROBE_SECONDS, json={"base_url": base_url})
        link.registered_base_url = base_url  # type: ignore[attr-defined]
    return link.metadata(refresh=True, timeout=LOGIN_PROBE_SECONDS)


@get("/login", include_in_schema=False)
async def login_page(request: Request, next: FromQuery[str | None] = None,  # noqa: A002
                     switch: FromQuery[str | None] = None) -> Response[Any]:
    state = request.app.state
    settings: Settings = state.settings
    link: HubLink = state.hub_link
    target = safe_next(next)
    if getattr(request.state, "principal", None) is not None:
        return redirect(request, target)
    if link.believed_down():
        return _offline_form(request, target)
    base = base_url_of(settings)
    try:
        metadata = await anyio.to_thread.run_sync(_hub_ready, link, base)
    except HubUnreachable:
        return _offline_form(request, target)
    except HubRefused as refused:
        if standing.node_refused(refused):
            status = await anyio.to_thread.run_sync(standing.learn_own_suspension, state.db, state.settings,
                                                   address_of(request))
            return _node_halted_page(request, status)
        return problem(request, 503, i18n.gettext(HUB_REFUSED, reason=str(refused.body.get("detail", refused.status)
                                                                          if isinstance(refused.body, dict) else refused.status)))
    verifier = secrets.token_urlsafe(48)
    pending = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24), "verifier": verifier,
               "next": target, "at": int(time.time())}
    params = {
        "response_type": "code", "client_id": link.config.client_id, "redirect_uri": f"{base}/auth/callback",
        "scope": "openid profile", "state": pending["state"], "nonce": pending["nonce"],
        "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()), "code_challenge_method": "S256",
        "ui_locales": "en" if i18n.current_language() == "en" else "zh-CN",
    }
    if switch:
        params["prompt"] = "login"  # the hub asks for a password even if someone is logged in there
    response: Response[Any] = Response(b"", status_code=303,
                                       headers={"Location": f"{metadata['authorization_endpoint']}?{urlencode(params)}",
                                                **NO_STORE})
    response.set_cookie(_rp_cookie(settings, _seal(settings, pending)))
    return response


@post("/login", include_in_schema=False)
async def offline_login(request: Request) -> Response[Any]:
    """The password form a spoke shows only while the hub is unreachable; only this node's own accounts."""
    state = request.app.state
    link: HubLink = state.hub_link
    form = await request.form()
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    if not link.believed_down():
        try:
            await anyio.to_thread.run_sync(lambda: link.metadata(refresh=True))
            return redirect(request, "/login?" + urlencode({"next": target}))  # the hub is back: log in there
        except (HubUnreachable, HubRefused):
            pass
    node_id = state.settings.node_id
    outcome, token = await run_step(request, lambda session: flow.password_step(
        session, node_id, username, password, address_of(request), target, now_of(request), offline=True),
        offline=True)
    if outcome.status == "throttled":
        return throttled(request, "identity/login.html", {"next": target, "username": username,
                                                 "offline_notice": i18n.gettext(OFFLINE_NOTICE)}, outcome.retry_after)
    if outcome.status == "halted":
        return node_halted(request, "identity/login.html", {"next": target, "username": username,
                                                   "offline_notice": i18n.gettext(OFFLINE_NOTICE)}, outcome)
    if token is None:
        return _offline_form(request, target, i18n.gettext(WRONG_PASSWORD), 400, username)
    response = logged_in(request, token, target)
    response.set_cookie(_id_token_cookie(state.settings, None))  # no hub session to end from this one
    return response


def _verify_id_token(link: HubLink, id_token: str, nonce: str) -> dict[str, Any]:
    try:
        header = extract_compact(id_token.encode()).headers()
    except (JoseError, ValueError, UnicodeError):
        raise ValueError("malformed ID token") from None
    if header.get("alg") not in ID_TOKEN_ALGS:
        raise ValueError("ID token algorithm not accepted")
    keyset = link.key_for(str(header.get("kid", "")))
    if keyset is None:
        raise ValueError("ID token signed by an unknown key")
    try:
        claims = jwt.decode(id_token, keyset, algorithms=ID_TOKEN_ALGS).claims
        jwt.JWTClaimsRegistry(
            leeway=LEEWAY, iss={"essential": True, "value": link.config.issuer},
            aud={"essential": True, "value": link.config.client_id}, exp={"essential": True},
            sub={"essential": True}, nonce={"essential": True, "value": nonce},
        ).validate(claims)
    except JoseError as exc:
        raise ValueError(f"ID token refused: {exc.error}") from None
    for claim in ("role", "node", "preferred_username"):
        if not isinstance(claims.get(claim), str) or not claims[claim]:
            raise ValueError(f"ID token lacks {claim}")
    return claims


def _not_this_node(request: Request) -> Response[Any]:
    """Someone else's account (often the hub's office session in the same browser): offer to log in as another."""
    response = render(request, "identity/login_refused.html", {"message": i18n.gettext(NOT_THIS_NODE)}, status=403,
                      headers=NO_STORE)
    response.set_cookie(_rp_cookie(request.app.state.settings, None))
    return response


class Completed(NamedTuple):
    """`ok` with the session's token and the ID token; `refused`: outside this spoke's subtree; `halted`: the
    person's node is suspended or retired as far as this spoke knows (`node_status`)."""

    outcome: str
    token: str | None = None
    id_token: str | None = None
    node_status: str | None = None


def _complete(state: Any, code: str, pending: dict[str, Any], address: str, user_agent: str) -> Completed:
    """Redeem the code, check the ID token and the node, keep a copy of the person, open a session."""
    link: HubLink = state.hub_link
    settings: Settings = state.settings
    metadata = link.metadata()
    body = link._json(link._request("POST", metadata["token_endpoint"].removeprefix(link.config.issuer) or "/oauth/token",
                                    data={"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": f"{base_url_of(settings)}/auth/callback",
                                          "code_verifier": pending["verifier"], **link.client_assertion()}))
    id_token = str(body.get("id_token", ""))
    claims = _verify_id_token(link, id_token, pending["nonce"])
    with state.db.reads() as session:
        stale = nodestate.halt_of(session, str(claims["node"])) is not None
    if stale:
        # The hub has just vouched for them, so their node is in service there: our copy of the statuses may be
        # older than a reinstatement. Take the directory again before believing it.
        standing.refresh_directory(state.db, state.settings, state.hub_link)
    with state.db.transaction() as session:
        username = str(claims["preferred_username"])[:64]
        if not policy.in_subtree(session, claims["node"], settings.node_id):
            audit.record(session, settings.node_id, "login.refused", actor=username, entity_type="user",
                         entity_id=str(claims["sub"])[:64], address=address,
                         detail={"reason": "node outside this spoke", "node": claims["node"]})
            return Completed("refused")
        status = nodestate.halt_of(session, str(claims["node"]))
        if status is not None:
            audit.record(session, settings.node_id, "login.refused_node", actor=username, entity_type="user",
                         entity_id=str(claims["sub"])[:64], address=address,
                         detail={"node": claims["node"], "status": status, "via": "hub"})
            return Completed("halted", node_status=status)
        user = _local_copy(session, claims)
        audit.record(session, settings.node_id, "login.ok", actor=user.username, actor_id=user.id, entity_type="user",
                     entity_id=user.id, address=address, detail={"via": "hub"})
        return Completed("ok", open_session(session, settings, user, address, user_agent), id_token)


def _local_copy(session: Any, claims: dict[str, Any]) -> User:
    """The spoke's copy of a person the hub vouched for; a copy made here never carries a usable password."""
    user_id = uuid.UUID(str(claims["sub"]))
    values = {"username": str(claims["preferred_username"])[:64], "role": claims["role"], "node_id": claims["node"],
              "unit_id": claims.get("unit") or None, "is_leader": bool(claims.get("leader")),
              "display_name": str(claims.get("name") or "")[:100], "active": True, "deleted_at": None}
    user = session.get(User, user_id)
    if user is None:
        clash = session.scalars(select(User).where(User.username == values["username"])).first()
        if clash is not None:
            clash.username = f"{clash.username}~{str(clash.id)[:8]}"[:64]  # an old copy under a reused name
            session.flush()
        user = User(id=user_id, password_hash="!", **values)
        session.add(user)
    else:
        for key, value in values.items():
            setattr(user, key, value)
    session.flush()
    return user


@get("/auth/callback", include_in_schema=False)
async def callback(request: Request) -> Response[Any]:
    state = request.app.state
    settings: Settings = state.settings
    link: HubLink = state.hub_link
    query = request.query_params
    pending = _unseal(settings, request.cookies.get(_rp_cookie_name(settings)))

    def fail(status: int, detail: str) -> Response[Any]:
        response = problem(request, status, detail)
        response.set_cookie(_rp_cookie(settings, None))
        return response

    if pending is None or not hmac.compare_digest(str(query.get("state", "")), str(pending.get("state"))):
        return fail(400, i18n.gettext(N_("This login has expired or did not start here. Please log in again.")))
    if query.get("iss") and query.get("iss") != link.config.issuer:
        return fail(400, i18n.gettext(N_("This login answer did not come from our hub.")))
    if query.get("error"):
        reason = str(query.get("error_description") or query.get("error"))[:200]
        if "does not belong to this node" in reason:
            return _not_this_node(request)
        return fail(403, i18n.gettext(HUB_REFUSED, reason=reason))
    code = str(query.get("code") or "")
    if not code:
        return fail(400, i18n.gettext(N_("This login has expired or did not start here. Please log in again.")))
    address = address_of(request)
    try:
        done = await anyio.to_thread.run_sync(_complete, state, code, pending, address,
                                              request.headers.get("user-agent", ""))
    except HubUnreachable:
        return fail(503, i18n.gettext(N_("The hub could not be reached to finish the login. Please try again.")))
    except (HubRefused, ValueError) as exc:
        reason = str(exc)[:200]

        def record() -> None:
            with state.db.transaction() as session:
                audit.record(session, settings.node_id, "login.refused", entity_type="user", address=address,
                             detail={"reason": reason})
        await anyio.to_thread.run_sync(record)
        return fail(400, i18n.gettext(HUB_REFUSED, reason=reason))
    if done.outcome == "halted":
        return _node_halted_page(request, done.node_status or "suspended")
    if done.outcome != "ok" or done.token is None:
        return _not_this_node(request)
    response = logged_in(request, done.token, safe_next(pending.get("next")))
    response.set_cookie(_rp_cookie(settings, None))
    response.set_cookie(_id_token_cookie(settings, done.id_token))
    return response


@post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response[Any]:
    """End the spoke's session, then the hub's (RP-initiated logout), and come back to this spoke's login.

    The ID token of the login goes along as `id_token_hint`: the hub then knows the person's own application asks
    and ends its session at once. Without it the hub would ask to confirm, and a person who did not would be let
    straight back in by the next visit here.
    """
    state = request.app.state
    settings: Settings = state.settings
    link: HubLink = state.hub_link
    token = getattr(request.state, "session_token", None)
    principal = getattr(request.state, "principal", None)

    def close() -> None:
        with state.db.transaction(actor=principal) as session:
            close_session(session, token)

    if token:
        await anyio.to_thread.run_sync(close)
    target = "/login"
    if principal is not None and not principal.offline and not link.believed_down():
        params = {"client_id": link.config.client_id, "post_logout_redirect_uri": f"{base_url_of(settings)}/login"}
        id_token = request.cookies.get(_id_token_cookie(settings, None).key)
        if id_token and _subject_of(id_token) == str(principal.user_id):
            params["id_token_hint"] = id_token
        target = f"{link.config.hub_url.rstrip('/')}/oauth/logout?{urlencode(params)}"
    response = redirect(request, target)
    response.set_cookie(session_cookie(settings, None))
    response.set_cookie(_id_token_cookie(settings, None))
    return response


@get("/account", include_in_schema=False)
async def account_at_hub(request: Request) -> Response[Any]:
    """A person's own account (password, authenticator app) is kept at the hub: "My account" leads there."""
    return redirect(request, f"{request.app.state.hub_link.config.hub_url.rstrip('/')}/account")


SPOKE_LOGIN_HANDLERS = [login_page, offline_login, callback, logout, account_at_hub]
