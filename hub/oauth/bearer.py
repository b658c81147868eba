"""Bearer tokens at the API: verify the hub's JWT against its cached JWKS, then take role and node from the database."""
from __future__ import annotations

import time
from typing import Any

import anyio
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased

from common.audit import trail as audit
from common.federation import nodestate
from common import i18n
from common.db import Database
from common.i18n import N_
from common.models import Node, OAuthClient, OAuthToken, User
from common.policy import Principal, load_principal
from common.identity.scopes import needed_scope
from common.settings import Settings
from hub.oauth import keys
from hub.oauth.server import access_claims_unverified
from sync.fastpath import run_compiled, statement_reads

MACHINE_ROLES = {"spoke", "client"}


class TokenRefused(Exception):
    """Why a bearer token was not accepted; `reason` is short ASCII for the header and the audit trail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def issuer_for(request: Request[Any, Any, Any]) -> str:
    settings: Settings = request.app.state.settings
    return settings.base_url.rstrip("/") or f"{request.url.scheme}://{request.url.netloc}"


def _machine_token_query() -> Any:
    below = aliased(Node)
    subtree = (select(func.aggregate_strings(below.id, ",")).where(below.path.startswith(Node.path))
               .correlate(Node).scalar_subquery())
    return (select(OAuthToken.revoked_at, OAuthToken.user_id, OAuthClient.id, OAuthClient.active, OAuthClient.node_id,
                   Node.status, Node.path, subtree.label("subtree"))
            .join(OAuthClient, OAuthClient.id == OAuthToken.client_id)
            .outerjoin(Node, Node.id == OAuthClient.node_id)
            .where(OAuthToken.access_jti == bindparam("jti")))


_MACHINE_TOKEN = _machine_token_query()


class BearerVerifier:
    """`state.bearer_verifier`: turns an `Authorization: Bearer` header into the caller's Principal, or refuses it."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.keys = keys.KeyCache(self._published)
        # Per host, and safe so with several hosts: it holds only what a token's signature and claims already say
        # (the same on every host under the shared keys); revocation and the live state of user, client and node,
        # which decide, are read from the database on every call. Authorization codes, refresh tokens, used client
        # assertions (jti), enrollment codes, setup links, login challenges and the login throttle are rows too.
        self._verified: dict[str, tuple[str, dict[str, Any]]] = {}

    def _published(self) -> list[dict[str, Any]]:
        with self.db.reads() as session:
            return keys.published(session)

    async def __call__(self, request: Request[Any, Any, Any], token: str) -> Principal:
        address = request.client.host if request.client else ""
        path = request.url.path
        try:
            principal, claims = await anyio.to_thread.run_sync(self.verify, token, issuer_for(request), address)
        except TokenRefused as refused:
            await anyio.to_thread.run_sync(self._record, "token.refused", token, refused.reason, path, address)
            raise NotAuthorizedException(
                i18n.gettext(N_("The access token is not valid: it has expired, was revoked or was not issued here.")),
                headers={"WWW-Authenticate":
                         f'Bearer realm="lianfu", error="invalid_token", error_description="{refused.reason}"'},
            ) from None
        request.state.token_claims = claims
        shared = path == "/healthz" or path.startswith("/oauth/")
        node_only = path.startswith("/api/v1/sync/")
        machine = principal.role in MACHINE_ROLES
        if not shared and ((node_only and principal.role != "spoke") or (machine and not node_only)):
            # A node's token is for the sync API only, and the sync API is for nodes only (never a person's token).
            await anyio.to_thread.run_sync(self._record, "token.insufficient_scope", token, "wrong kind of token", path, address)
            message = (N_("A node's or a service's token cannot be used here.") if machine else
                       N_("Only a node's own credentials can be used here."))
            raise PermissionDeniedException(i18n.gettext(message),
                                            headers={"WWW-Authenticate": 'Bearer realm="lianfu", error="insufficient_scope"'})
        if path.startswith("/api/"):
            needed = needed_scope(path, request.method)
            if needed not in str(claims.get("scope", "")).split():
                await anyio.to_thread.run_sync(self._record, "token.insufficient_scope", token, needed, path, address)
                raise PermissionDeniedException(
                    i18n.gettext(N_("The access token does not allow this: it lacks the scope {scope}."), scope=needed),
                    headers={"WWW-Authenticate": f'Bearer realm="lianfu", error="insufficient_scope", scope="{needed}"'},
                )
        return principal

    def verify(self, token: str, issuer: str, address: str) -> tuple[Principal, dict[str, Any]]:
        """Runs in a worker thread: signature, claims, then revocation and the live state of user, client and node."""
        claims = self._checked_claims(token, issuer)
        if claims.get("client_id") and not claims.get("preferred_username"):
            # A node's or a service's token, on every sync round: its live state and the node's subtree, one query.
            with statement_reads(self.db) as session:
                found = run_compiled(session, _MACHINE_TOKEN, jti=str(claims["jti"])).first()
            if found is not None and found.user_id is None:
                if found.revoked_at is not None:
                    raise TokenRefused("token revoked")
                if not found.active:
                    raise TokenRefused("client disabled")
                if found.node_id and found.status != "active":
                    raise TokenRefused("node not active")
                if not found.node_id:
                    return Principal(None, f"client:{found.id}"[:64], "client", "", address=address), claims
                # The node, every node below it, and its ancestors (as policy.principal_at resolves them).
                subtree = frozenset((found.subtree or "").split(",")) - {""} | {found.node_id}
                lineage = frozenset(part for part in (found.path or f"/{found.node_id}/").split("/") if part)
                return Principal(None, f"client:{found.id}"[:64], "spoke", found.node_id, subtree=subtree,
                                 lineage=lineage, address=address), claims
        return self._person_or_client(token, claims, address)

    def _checked_claims(self, token: str, issuer: str) -> dict[str, Any]:
        """Signature and claims; a token already checked is taken from the cache until it expires (a spoke
        presents the same token on every round). Revocation is never cached: it is read on every call."""
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and cached[0] == issuer and cached[1].get("exp", 0) + keys.LEEWAY > now:
            return cached[1]
        claims = self._verify_signature(token, issuer)
        if len(self._verified) > 4096:
            self._verified = {k: v for k, v in self._verified.items() if v[1].get("exp", 0) + keys.LEEWAY > now}
            if len(self._verified) > 4096:
                self._verified.clear()
        self._verified[token] = (issuer, claims)
        return claims

    def _verify_signature(self, token: str, issuer: str) -> dict[str, Any]:
        try:
            header = extract_compact(token.encode()).headers()
        except (JoseError, ValueError, UnicodeError):
            raise TokenRefused("malformed token") from None
        if header.get("alg") != keys.ALG:
            raise TokenRefused("algorithm not accepted")
        if header.get("typ") != "at+jwt":
            raise TokenRefused("not an access token")
        kid = header.get("kid")
        keyset = self.keys.get(kid) if isinstance(kid, str) else None
        if keyset is None:
            raise TokenRefused("unknown signing key")
        try:
            claims = jwt.decode(token, keyset, algorithms=[keys.ALG]).claims
            jwt.JWTClaimsRegistry(
                leeway=keys.LEEWAY, iss={"essential": True, "value": issuer}, aud={"essential": True, "value": issuer},
                exp={"essential": True}, jti={"essential": True}, sub={"essential": True},
            ).validate(claims)
        except JoseError as exc:
            raise TokenRefused(f"{exc.error}".replace('"', "'")[:80] or "invalid token") from None
        return claims

    def _person_or_client(self, token: str, claims: dict[str, Any], address: str) -> tuple[Principal, dict[str, Any]]:
        with self.db.reads() as session:
            row = session.scalars(select(OAuthToken).where(OAuthToken.access_jti == str(claims["jti"]))).first()
            if row is None or row.revoked_at is not None:
                raise TokenRefused("token revoked")
            client = session.get(OAuthClient, row.client_id)
            if client is None or not client.active:
                raise TokenRefused("client disabled")
            if row.user_id is not None:
                user = session.get(User, row.user_id)
                if user is None or not user.active or user.deleted_at is not None:
                    raise TokenRefused("user not active")
                if nodestate.halt_of(session, user.node_id) is not None:
                    raise TokenRefused("node not active")  # the person's node, or one above it
                return load_principal(session, user, address=address), claims
            if client.node_id and session.scalar(select(Node.status).where(Node.id == client.node_id)) != "active":
                raise TokenRefused("node not active")
            role = "spoke" if client.node_id else "client"
            return Principal(None, f"client:{client.id}"[:64], role, client.node_id or "", address=address,
                             subtree=frozenset({client.node_id}) if client.node_id else frozenset()), claims

    def _record(self, action: str, token: str, reason: str, path: str, address: str) -> None:
        try:
            # Unverified, for the investigator only: who the token claims to be.
            claimed = access_claims_unverified(token)
        except (JoseError, ValueError, TypeError, UnicodeError):
            claimed = {}
        actor = str(claimed.get("preferred_username") or claimed.get("client_id") or "")[:64]
        with self.db.transaction() as session:
            audit.record(session, self.settings.node_id, action, actor=actor, entity_type="oauth",
                         entity_id=str(claimed.get("jti", ""))[:64], address=address[:64],
                         detail={"reason": reason, "path": path, "client_id": str(claimed.get("client_id", ""))[:64]})
