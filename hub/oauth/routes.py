"""HTTP endpoints of the OpenID Connect provider; Authlib runs in a worker thread on a snapshot of each request."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import anyio
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import AccessDeniedError, OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError
from litestar import Request, Response, get, post, route
from litestar.exceptions import NotAuthorizedException

from common import i18n, policy
from common.i18n import N_
from common.models import User
from common.web.errors import problem
from common.web.templating import render
from hub.oauth import keys
from hub.oauth.bearer import issuer_for
from common.identity.scopes import AREA_NAMES, SCOPES
from hub.oauth.clients import RegisteredClient
from hub.oauth.grants import build_server, user_info
from hub.oauth.logout import logout_confirm, logout_perform
from hub.oauth.server import OAuthResponse, RequestSnapshot

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NO_CSRF = {"csrf_exempt": True}


async def snapshot_of(request: Request[Any, Any, Any]) -> RequestSnapshot:
    form: list[tuple[str, str]] = []
    if request.method == "POST" and request.headers.get("content-type", "").startswith(FORM_TYPES):
        form = [(k, str(v)) for k, v in (await request.form()).multi_items()]
    query = request.url.query
    uri = issuer_for(request) + request.url.path + (f"?{query}" if query else "")
    return RequestSnapshot(request.method, uri, dict(request.headers), list(request.query_params.multi_items()), form,
                           request.client.host if request.client else "")


def to_response(result: OAuthResponse) -> Response[Any]:
    headers = {k: v for k, v in result.headers if k.lower() != "content-type"}
    media_type = next((v for k, v in result.headers if k.lower() == "content-type"), "application/json")
    body = result.body
    content = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or "").encode()
    return Response(content, status_code=result.status, headers=headers, media_type=media_type)


def _run_server(request: Request[Any, Any, Any], snapshot: RequestSnapshot, work: Any) -> OAuthResponse:
    """One transaction, one server: the audit entries of a refusal are committed along with it."""
    state = request.app.state
    with state.db.transaction() as session:
        server = build_server(session, state.settings, issuer_for(request), snapshot.address)
        try:
            return work(server)
        except OAuth2Error as error:  # e.g. a plain-http URI that could not even become a request
            status, body, headers = error()
            return OAuthResponse(status, body, list(headers))


# --- discovery and keys ---------------------------------------------------------------------------------------------

def provider_metadata(issuer: str) -> dict[str, Any]:
    auth_methods = ["client_secret_basic", "private_key_jwt", "none"]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [keys.ALG],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "preferred_username",
                             "role", "node", "unit", "leader"],
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["zh-CN", "en"],
    }


@get(["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"], sync_to_thread=False,
     tags=["oauth"], summary="OpenID Connect discovery")
def discovery(request: Request) -> Response[dict[str, Any]]:
    return Response(provider_metadata(issuer_for(request)), headers={"Cache-Control": "public, max-age=300"})


@get("/oauth/jwks", sync_to_thread=True, tags=["oauth"], summary="The hub's public signing keys (JWK set)")
def jwks(request: Request) -> Response[dict[str, Any]]:
    state = request.app.state
    with state.db.reads() as session:
        published = keys.published(session)
    if not published:
        with state.db.transaction() as session:
            keys.active_key(session, state.settings)  # created on first need
            published = keys.published(session)
    return Response({"keys": published}, headers={"Cache-Control": "public, max-age=60"})


# --- authorization endpoint -----------------------------------------------------------------------------------------

def _authorize(request: Request[Any, Any, Any], snapshot: RequestSnapshot, user_id: Any, decision: str | None) -> Any:
    """The result: an OAuthResponse (redirect to the client), ("login",), ("error", text) or ("consent", ...)."""

    def work(server: Any) -> Any:
        user = server.session.get(User, user_id) if user_id else None
        oauth_request = server.create_oauth2_request(snapshot)
        try:
            grant = server.get_consent_grant(oauth_request, end_user=user)
        except OAuth2Error as error:
            response = server.handle_error_response(oauth_request, error)
            if error.redirect_uri and response.location:
                # RFC 9207 also for errors: the client learns which server answered.
                response.location = add_params_to_uri(response.location, [("iss", server.issuer)])
                return response
            return ("error", error.description or error.error)
        prompts = set(str(oauth_request.payload.data.get("prompt") or "").split())
        if user is None or ("login" in prompts and decision is None):
            return ("login",)
        client: RegisteredClient = grant.client
        if client.row.node_id and not policy.in_subtree(server.session, user.node_id, client.row.node_id):
            # A node's own client logs in only that node's people (and those below it), whoever asks.
            error = AccessDeniedError(description="This account does not belong to this node.",
                                      redirect_uri=grant.redirect_uri, state=oauth_request.payload.state)
            response = server.handle_error_response(oauth_request, error)
            response.location = add_params_to_uri(response.location or "", [("iss", server.issuer)])
            return response
        needs_consent = not client.row.first_party or "consent" in prompts
        if decision in ("allow", "deny") or not needs_consent:
            granted = None if decision == "deny" else user
            return server.create_authorization_response(oauth_request, grant_user=granted, grant=grant)
        if "none" in prompts:
            error = ConsentRequiredError(redirect_uri=grant.redirect_uri, state=oauth_request.payload.state)
            response = server.handle_error_response(oauth_request, error)
            response.location = add_params_to_uri(response.location or "", [("iss", server.issuer)])
            return response
        return ("consent", client.row.name, oauth_request.scope or "")

    return _run_server(request, snapshot, work)


def _scope_texts(scope: str) -> list[str]:
    texts = []
    for item in scope.split():
        area = item.split(":", 1)[0]
        texts.append(i18n.gettext(SCOPES.get(item, item), area=i18n.gettext(AREA_NAMES.get(area, area))))
    return texts


async def _authorization(request: Request[Any, Any, Any], decision: str | None) -> Response[Any]:
    snapshot = await snapshot_of(request)
    principal = getattr(request.state, "principal", None)
    user_id = principal.user_id if principal is not None and getattr(request.state, "session_token", None) else None
    result = await anyio.to_thread.run_sync(_authorize, request, snapshot, user_id, decision)
    if isinstance(result, OAuthResponse):
        return to_response(result)
    if result[0] == "login":
        # Back here after logging in, without asking for a login again (prompt=login is satisfied by then).
        pairs = [(k, " ".join(p for p in v.split() if p != "login") if k == "prompt" else v) for k, v in
                 [*snapshot.query, *snapshot.form] if k not in ("csrf_token", "decision")]
        target = request.url.path + "?" + urlencode([(k, v) for k, v in pairs if v or k != "prompt"])
        return Response(b"", status_code=303, headers={"Location": "/login?next=" + quote(target, safe="")})
    if result[0] == "error":
        detail = i18n.gettext(N_("This sign-in request cannot be accepted: {reason}"), reason=result[1])
        return problem(request, 400, detail)
    params = [(k, v) for k, v in [*snapshot.query, *snapshot.form] if k not in ("csrf_token", "decision")]
    return render(request, "identity/consent.html", {"client_name": result[1], "scope_texts": _scope_texts(result[2]),
                                                  "params": params}, headers={"Cache-Control": "no-store"})


@get("/oauth/authorize", include_in_schema=False)
async def authorize(request: Request) -> Response[Any]:
    return await _authorization(request, None)


@post("/oauth/authorize", include_in_schema=False)
async def authorize_decision(request: Request) -> Response[Any]:
    # The consent form: CSRF-protected like every form; the decision is the button pressed.
    form = await request.form()
    decision = "allow" if form.get("decision") == "allow" else "deny"
    return await _authorization(request, decision)


# --- token, revocation, introspection -------------------------------------------------------------------------------

async def _serve_endpoint(request: Request[Any, Any, Any], endpoint: str | None) -> Response[Any]:
    """Run the token endpoint (`endpoint=None`) or a named Authlib endpoint on a snapshot, in a worker thread."""
    snapshot = await snapshot_of(request)

    def work(server: Any) -> Any:
        if endpoint is None:
            return server.create_token_response(snapshot)
        return server.create_endpoint_response(endpoint, snapshot)

    return to_response(await anyio.to_thread.run_sync(_run_server, request, snapshot, work))


@post("/oauth/token", opt=NO_CSRF, tags=["oauth"], summary="Token endpoint (RFC 6749)", status_code=200)
async def token(request: Request) -> Response[Any]:
    return await _serve_endpoint(request, None)


@post("/oauth/revoke", opt=NO_CSRF, tags=["oauth"], summary="Token revocation (RFC 7009)", status_code=200)
async def revoke(request: Request) -> Response[Any]:
    return await _serve_endpoint(request, "revocation")


@post("/oauth/introspect", opt=NO_CSRF, tags=["oauth"], summary="Token introspection (RFC 7662)", status_code=200)
async def introspect(request: Request) -> Response[Any]:
    return await _serve_endpoint(request, "introspection")


# --- userinfo and logout ----------------------------------------------------------------------------------------------

@route("/oauth/userinfo", http_method=["GET", "POST"], sync_to_thread=True, status_code=200, tags=["oauth"], summary="OpenID Connect userinfo")
def userinfo(request: Request) -> dict[str, Any]:
    claims = getattr(request.state, "token_claims", None)
    principal = getattr(request.state, "principal", None)
    if not claims or principal is None or principal.user_id is None or "openid" not in str(claims.get("scope", "")).split():
        raise NotAuthorizedException(i18n.gettext(N_("A person's access token with the openid scope is needed.")),
                                     headers={"WWW-Authenticate": 'Bearer realm="lianfu", error="invalid_token"'})
    with request.app.state.db.reads() as session:
        user = session.get(User, principal.user_id)
        return dict(user_info(user, str(claims.get("scope", ""))))


@get("/oauth/logout", include_in_schema=False)
async def logout_get(request: Request) -> Response[Any]:
    return await logout_confirm(request)


@post("/oauth/logout", include_in_schema=False)
async def logout_post(request: Request) -> Response[Any]:
    return await logout_perform(request)


OAUTH_HANDLERS = [discovery, jwks, authorize, authorize_decision, token, revoke, introspect, userinfo, logout_get,
                  logout_post]
