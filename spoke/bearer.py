"""Hub-issued bearer tokens at a spoke's API: verified with the hub's cached JWKS, checked with the hub while it answers."""
from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import anyio
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from common.audit import trail as audit
from common.federation import nodestate
from common import i18n, policy
from common.db import Database
from common.i18n import N_
from common.policy import Principal
from common.identity.scopes import needed_scope
from common.settings import Settings
from sync.hub_link import HubLink, HubRefused, HubUnreachable

ACCESS_TOKEN_ALGS = ["RS256"]
LEEWAY = 30
PERSON_ROLES = {"office", "liaison", "subcenter", "enterprise"}


class TokenRefused(Exception):
    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class SpokeBearerVerifier:
    """`state.bearer_verifier` at a spoke.

    The signature and claims are checked locally against the hub's keys kept in the data dir. While the hub
    answers, it is also asked (RFC 7662 introspection, cached for `cache_seconds`) whether the token was revoked;
    while it does not, a well-signed unexpired token is taken on its signature alone — tokens live minutes.
    """

    def __init__(self, db: Database, settings: Settings, link: HubLink, cache_seconds: float = 10.0) -> None:
        self.db = db
        self.settings = settings
        self.link = link
        self.cache_seconds = cache_seconds
        self._seen: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    async def __call__(self, request: Request[Any, Any, Any], token: str) -> Principal:
        address = request.client.host if request.client else ""
        path = request.url.path
        try:
            principal, claims = await anyio.to_thread.run_sync(self.verify, token, address)
            needed = needed_scope(path, request.method) if path.startswith("/api/") else None
            if needed and needed not in str(claims.get("scope", "")).split():
                raise TokenRefused(f"lacks scope {needed}", 403)
        except TokenRefused as refused:
            await anyio.to_thread.run_sync(self._record, refused.reason, token, path, address)
            if refused.status == 403:
                raise PermissionDeniedException(
                    i18n.gettext(N_("This token cannot be used at this node: {reason}"), reason=refused.reason),
                    headers={"WWW-Authenticate": 'Bearer realm="lianfu", error="insufficient_scope"'}) from None
            raise NotAuthorizedException(
                i18n.gettext(N_("The access token is not valid: it has expired, was revoked or was not issued here.")),
                headers={"WWW-Authenticate":
                         f'Bearer realm="lianfu", error="invalid_token", error_description="{refused.reason}"'},
            ) from None
        request.state.token_claims = claims
        return principal

    def verify(self, token: str, address: str) -> tuple[Principal, dict[str, Any]]:
        try:
            header = extract_compact(token.encode()).headers()
        except (JoseError, ValueError, UnicodeError):
            raise TokenRefused("malformed token") from None
        if header.get("alg") not in ACCESS_TOKEN_ALGS:
            raise TokenRefused("algorithm not accepted")
        if header.get("typ") != "at+jwt":
            raise TokenRefused("not an access token")
        keyset = self.link.key_for(str(header.get("kid", "")))
        if keyset is None:
            raise TokenRefused("unknown signing key")
        issuer = self.link.config.issuer
        try:
            claims = jwt.decode(token, keyset, algorithms=ACCESS_TOKEN_ALGS).claims
            jwt.JWTClaimsRegistry(
                leeway=LEEWAY, iss={"essential": True, "value": issuer}, aud={"essential": True, "value": issuer},
                exp={"essential": True}, jti={"essential": True}, sub={"essential": True},
            ).validate(claims)
        except JoseError as exc:
            raise TokenRefused(f"{exc.error}".replace('"', "'")[:80] or "invalid token") from None
        if claims.get("role") not in PERSON_ROLES:
            raise TokenRefused("a node's or a service's token", 403)
        if not self._still_active(token, str(claims["jti"])):
            raise TokenRefused("token revoked")
        with self.db.reads() as session:
            if not policy.in_subtree(session, str(claims.get("node", "")), self.settings.node_id):
                raise TokenRefused("the person does not belong to this node", 403)
            if nodestate.halt_of(session, str(claims["node"])) is not None:
                # What this spoke's directory says, so it holds while the hub cannot be asked.
                raise TokenRefused("node not active")
            try:
                user_id = uuid.UUID(str(claims["sub"]))
            except ValueError:
                raise TokenRefused("malformed subject") from None
            principal = policy.principal_at(session, user_id, str(claims.get("preferred_username", ""))[:64],
                                            str(claims["role"]), str(claims["node"]), claims.get("unit") or None,
                                            bool(claims.get("leader")), address=address)
        return principal, claims

    def _still_active(self, token: str, jti: str) -> bool:
        now = time.monotonic()
        with self._lock:
            cached = self._seen.get(jti)
            if cached and cached[1] > now:
                return cached[0]
        if self.link.believed_down():
            return True
        try:
            active = bool(self.link.introspect(token).get("active"))
        except HubUnreachable:
            return True  # the hub is away: the signature and the short lifetime stand alone
        except HubRefused:
            # The hub does not take this spoke's own credentials: trust nothing it cannot confirm.
            return False
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v[1] > now}
            self._seen[jti] = (active, now + self.cache_seconds)
        return active

    def _record(self, reason: str, token: str, path: str, address: str) -> None:
        try:
            claimed = json.loads(extract_compact(token.encode()).payload)
            claimed = claimed if isinstance(claimed, dict) else {}
        except (JoseError, ValueError, TypeError, UnicodeError):
            claimed = {}
        with self.db.transaction() as session:
            audit.record(session, self.settings.node_id, "token.refused",
                         actor=str(claimed.get("preferred_username") or claimed.get("client_id") or "")[:64],
                         entity_type="oauth", entity_id=str(claimed.get("jti", ""))[:64], address=address[:64],
                         detail={"reason": reason, "path": path})
