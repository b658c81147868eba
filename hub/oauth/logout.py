"""RP-initiated logout (OpenID Connect): end the hub's page session and return to a registered address."""
from __future__ import annotations

from typing import Any

import anyio
from authlib.common.urls import add_params_to_uri
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from litestar import Request, Response

from common.audit import trail as audit
from common import i18n
from common.i18n import N_
from common.models import OAuthClient
from common.web.auth import close_session, session_cookie
from common.web.errors import problem
from common.web.templating import render
from hub.oauth import keys
from hub.oauth.bearer import issuer_for

PARAMS = ("id_token_hint", "post_logout_redirect_uri", "client_id", "state")


def _check(request: Request[Any, Any, Any], params: dict[str, str]) -> tuple[str, str | None, str | None]:
    """(where to go afterwards, the subject of a valid ID token of ours that named the client, an error if the
    request is refused)."""
    state = request.app.state
    client_id = params.get("client_id") or None
    hinted: str | None = None
    with state.db.reads() as session:
        if params.get("id_token_hint"):
            try:
                keyset = KeySet.import_key_set({"keys": keys.published(session)})
                claims = jwt.decode(params["id_token_hint"], keyset, algorithms=[keys.ALG]).claims
            except (JoseError, ValueError, TypeError):
                return "", None, N_("The ID token given is not one of ours.")
            audience = claims.get("aud")
            audiences = audience if isinstance(audience, list) else [audience]
            if claims.get("iss") != issuer_for(request) or (client_id and client_id not in audiences):
                return "", None, N_("The ID token given is not one of ours.")
            client_id = client_id or str(audiences[0])
            hinted = str(claims.get("sub") or "")
        target = "/login"
        wanted = params.get("post_logout_redirect_uri")
        if wanted:
            client = session.get(OAuthClient, client_id) if client_id else None
            if client is None or not client.active or wanted not in (client.post_logout_redirect_uris or []):
                return "", None, N_("That address to return to after logging out is not registered.")
            target = add_params_to_uri(wanted, [("state", params["state"])]) if params.get("state") else wanted
    return target, hinted, None


def _end_session(request: Request[Any, Any, Any], client_id: str) -> None:
    state = request.app.state
    token = getattr(request.state, "session_token", None)
    principal = getattr(request.state, "principal", None)
    with state.db.transaction(actor=principal) as session:
        if token:
            close_session(session, token)
        audit.record(session, state.settings.node_id, "logout", actor=principal.username if principal else "",
                     actor_id=principal.user_id if principal else None, entity_type="oauth", entity_id=client_id[:64],
                     detail={"rp_initiated": True}, address=(request.client.host if request.client else "")[:64])


def _leave(request: Request[Any, Any, Any], target: str) -> Response[Any]:
    response: Response[Any] = Response(b"", status_code=303, headers={"Location": target, "Cache-Control": "no-store"})
    response.set_cookie(session_cookie(request.app.state.settings, None))
    return response


async def logout_confirm(request: Request[Any, Any, Any]) -> Response[Any]:
    params = {k: v for k, v in request.query_params.items() if k in PARAMS}
    target, hinted, error = await anyio.to_thread.run_sync(_check, request, params)
    if error:
        return problem(request, 400, i18n.gettext(error))
    principal = getattr(request.state, "principal", None)
    session_token = getattr(request.state, "session_token", None)
    if session_token is None or (hinted and principal is not None and hinted == str(principal.user_id)):
        # With no session there is nothing to protect. A valid ID token of the person logged in here shows that
        # their own application asked: no second question. A hint for someone else is no reason to skip it.
        await anyio.to_thread.run_sync(_end_session, request, params.get("client_id", ""))
        return _leave(request, target)
    return render(request, "identity/logout.html", {"params": list(params.items())}, headers={"Cache-Control": "no-store"})


async def logout_perform(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await request.form()
    params = {k: str(v) for k, v in form.items() if k in PARAMS}
    target, _, error = await anyio.to_thread.run_sync(_check, request, params)
    if error:
        return problem(request, 400, i18n.gettext(error))
    await anyio.to_thread.run_sync(_end_session, request, params.get("client_id", ""))
    return _leave(request, target)
