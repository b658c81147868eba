"""Enrollment at the hub: a one-time code and a fresh public key become a spoke's own client; spokes say where they live."""
from __future__ import annotations

from datetime import UTC
from typing import Any

import anyio
import msgspec
from litestar import Request, post, put
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import JSONBody

from common.audit import trail as audit
from common import i18n
from common.api.deps import Caller
from common.errors import Conflict, InvalidField
from common.i18n import N_
from common.models import EnrollmentCode, Node, OAuthClient, utcnow
from common.federation.service import hash_code, node_slice
from hub.oauth.bearer import issuer_for
from hub.oauth.clients import ClientError, register_node_client, set_node_base_url

NO_CSRF = {"csrf_exempt": True}
PROTOCOL = 1


class EnrollRequest(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    jwks: dict[str, Any]
    base_url: str | None = None


class SpokeAddress(msgspec.Struct, forbid_unknown_fields=True):
    base_url: str


class Refused(Exception):
    """An enrollment the hub turns down; `reason` goes to the audit trail, `message` to the caller."""

    def __init__(self, reason: str, message: str, field: str = "code") -> None:
        super().__init__(reason)
        self.reason, self.message, self.field = reason, message, field


def _enroll(state: Any, data: EnrollRequest, issuer: str, address: str) -> dict[str, Any]:
    settings = state.settings
    try:
        with state.db.transaction() as session:
            row = session.get(EnrollmentCode, hash_code(data.code), with_for_update=True)
            if row is None:
                raise Refused("unknown code", N_("This enrollment code is not valid."))
            if row.used_at is not None:
                raise Refused("code already used", N_("This enrollment code has already been used. Ask the office for a new one."))
            expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
            if expires < utcnow():
                raise Refused("code expired", N_("This enrollment code has expired. Ask the office for a new one."))
            node = session.get(Node, row.node_id)
            if node is None or node.status != "active":
                raise Refused("node not active", N_("The node of this code is not active."))
            try:
                client = register_node_client(session, node.id, data.jwks, data.base_url)
            except ClientError as exc:
                field = "base_url" if "address" in str(exc) or "https" in str(exc) else "jwks"
                raise Refused(f"registration refused: {exc}"[:120], N_("The spoke's key or address was refused: {reason}"),
                              field) from exc
            row.used_at = utcnow()
            audit.record(session, settings.node_id, "node.enrolled", actor=f"node:{node.id}"[:64], entity_type="node",
                         entity_id=node.id, address=address, detail={"client_id": client.id})
            return {"protocol": PROTOCOL, "issuer": issuer, "client_id": client.id, "node": node.id,
                    "node_name": node.name, "nodes": node_slice(session, node.id)}
    except Refused as refused:
        with state.db.transaction() as session:
            audit.record(session, settings.node_id, "security.enrollment_refused", entity_type="node", address=address,
                         detail={"reason": refused.reason})
        if refused.reason.startswith("registration"):
            raise InvalidField(refused.field, refused.message, reason=refused.reason.split(": ", 1)[-1]) from None
        if refused.reason in ("code already used", "node not active"):
            raise Conflict(refused.message) from None
        raise InvalidField("code", refused.message) from None


@post("/api/v1/sync/enroll", opt=NO_CSRF, tags=["sync"], status_code=201,
      summary="Turn a one-time enrollment code and the spoke's public key into the node's own client")
async def enroll(request: Request, data: JSONBody[EnrollRequest]) -> dict[str, Any]:
    address = request.client.host if request.client else ""
    return await anyio.to_thread.run_sync(_enroll, request.app.state, data, issuer_for(request), address)


def _client_of(session: Any, client_id: str) -> OAuthClient:
    client = session.get(OAuthClient, client_id)
    if client is None or not client.active or not client.node_id:
        raise NotAuthorizedException(i18n.gettext(N_("Please log in")))
    return client


@put("/api/v1/sync/address", opt=NO_CSRF, tags=["sync"], sync_to_thread=True,
     summary="A spoke tells the hub where browsers reach it (its login callback)")
def spoke_address(request: Request, principal: Caller, data: JSONBody[SpokeAddress]) -> dict[str, Any]:
    if principal.role != "spoke":
        raise PermissionDeniedException(i18n.gettext(N_("Only a node's own credentials can be used here.")))
    client_id = str(request.state.token_claims.get("client_id", ""))
    with request.app.state.db.transaction(actor=principal) as session:
        client = _client_of(session, client_id)
        before = list(client.redirect_uris or [])
        try:
            set_node_base_url(client, data.base_url)
        except ClientError as exc:
            raise InvalidField("base_url", N_("The spoke's key or address was refused: {reason}"), reason=str(exc)) from None
        if client.redirect_uris != before:
            audit.record(session, request.app.state.settings.node_id, "node.address", actor=f"node:{client.node_id}"[:64],
                         entity_type="oauth", entity_id=client.id, address=principal.address,
                         detail={"redirect_uris": client.redirect_uris, "before": before})
        return {"redirect_uris": client.redirect_uris, "post_logout_redirect_uris": client.post_logout_redirect_uris}


ENROLLMENT_HANDLERS = [enroll, spoke_address]
