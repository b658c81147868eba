"""The office's page of OAuth clients: who they are, when they were last used, disable and revoke."""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from sqlalchemy import func, select, update

from common.audit import trail as audit
from common.errors import NotFound
from common.federation.names import node_names
from common.models import OAuthClient, OAuthToken, utcnow
from common.web.auth import require_office_principal
from common.web.htmx import redirect
from common.web.templating import render


@get("/oauth/clients", include_in_schema=False, name="oauth:clients", sync_to_thread=True)
def clients_page(request: Request) -> Response[str]:
    require_office_principal(request)
    now = utcnow()
    with request.app.state.db.reads() as session:
        clients = session.scalars(select(OAuthClient).order_by(OAuthClient.created_at.desc())).all()
        # Last use is the newest token issued to the client; live tokens are those neither revoked nor expired.
        last_used = dict(session.execute(select(OAuthToken.client_id, func.max(OAuthToken.issued_at))
                                         .group_by(OAuthToken.client_id)).all())
        live = dict(session.execute(
            select(OAuthToken.client_id, func.count()).where(
                OAuthToken.revoked_at.is_(None),
                (OAuthToken.access_expires_at > now) | (OAuthToken.refresh_expires_at > now))
            .group_by(OAuthToken.client_id)).all())
        nodes = node_names(session)
    return render(request, "identity/clients.html", {"clients": clients, "last_used": last_used, "live": live,
                                                      "node_names": nodes})


def _change(request: Request[Any, Any, Any], client_id: str, action: str) -> Response[Any]:
    principal = require_office_principal(request)
    now = utcnow()
    with request.app.state.db.transaction(actor=principal) as session:
        client = session.get(OAuthClient, client_id)
        if client is None:
            raise NotFound()
        if action in ("disable", "enable"):
            client.active = action == "enable"
        if action in ("disable", "revoke"):
            # Disabling also ends what the client holds: its tokens stop working at once.
            session.execute(update(OAuthToken).where(OAuthToken.client_id == client_id, OAuthToken.revoked_at.is_(None))
                            .values(revoked_at=now))
        audit.record(session, principal.node_id, f"client.{action}", actor=principal.username, actor_id=principal.user_id,
                     entity_type="oauth_client", entity_id=client_id, address=principal.address)
    return redirect(request, "/oauth/clients")


@post("/oauth/clients/{client_id:str}/{action:str}", include_in_schema=False, sync_to_thread=True)
def change_client(request: Request, client_id: FromPath[str], action: FromPath[str]) -> Response[Any]:
    if action not in ("disable", "enable", "revoke"):
        raise NotFound()
    return _change(request, client_id, action)


ADMIN_HANDLERS = [clients_page, change_client]
