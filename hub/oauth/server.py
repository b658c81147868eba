"""Authlib's authorization server on our database: built per request on one sync session, run in a worker thread."""
from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc9207 import IssuerParameter
from joserfc import jwt
from joserfc.jws import extract_compact
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.audit import trail as audit
from common.models import Node, OAuthClient, OAuthToken, User, new_id, utcnow
from common.settings import Settings
from hub.oauth import keys
from common.identity.scopes import SCOPES
from hub.oauth.clients import RegisteredClient, sha256

CODE_TTL = timedelta(minutes=2)
# How clients may authenticate at the token, revocation and introspection endpoints.
TOKEN_AUTH_METHODS = ["client_secret_basic", "private_key_jwt", "none"]


@dataclass(frozen=True)
class RequestSnapshot:
    """What Authlib needs of an HTTP request, read on the event loop before the worker thread starts."""

    method: str
    uri: str
    headers: dict[str, str]
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    address: str = ""


class SnapshotPayload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class SnapshotRequest(OAuth2Request):
    def __init__(self, snapshot: RequestSnapshot) -> None:
        super().__init__(snapshot.method, snapshot.uri, headers=_Headers(snapshot.headers))
        self.snapshot = snapshot
        self.payload = SnapshotPayload([*snapshot.query, *snapshot.form])
        self._form = {key: value for key, value in reversed(snapshot.form)}
        self._args = {key: value for key, value in reversed(snapshot.query)}

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Headers(dict):  # type: ignore[type-arg]
    """Header lookup that ignores case, as HTTP does (Authlib asks for `Authorization`)."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in headers.items()})

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(str(key).lower())


@dataclass
class OAuthResponse:
    """Authlib's (status, body, headers); `location` is what RFC 9207's extension rewrites."""

    status: int
    body: Any
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"] + [("Location", value)]


class HubIssuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class TokenGenerator(BearerTokenGenerator):
    """RFC 9068 JWT access tokens carrying the caller's role, node, unit and leader flag; opaque refresh tokens."""

    def __init__(self, server: HubAuthorizationServer) -> None:
        super().__init__(self.access_token, lambda **_: generate_token(48), lambda client, grant_type: keys.ACCESS_TOKEN_TTL)
        self.server = server

    def access_token(self, client: RegisteredClient, grant_type: str, user: User | None, scope: str) -> str:
        server = self.server
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": server.issuer, "aud": server.audience, "iat": now, "nbf": now, "exp": now + keys.ACCESS_TOKEN_TTL,
            "jti": generate_token(24), "client_id": client.get_client_id(), "scope": scope,
        }
        if user is not None:
            claims.update(sub=str(user.id), preferred_username=user.username, **identity_claims(user))
        else:
            row = client.row
            claims.update(sub=client.get_client_id(), role="spoke" if row.node_id else "client", node=row.node_id or "",
                          leader=False)
        key_row = keys.active_key(server.session, server.settings)
        header = {"alg": key_row.alg, "typ": "at+jwt", "kid": key_row.kid}
        return jwt.encode(header, claims, keys.private_key(server.settings, key_row), [key_row.alg])


def identity_claims(user: User) -> dict[str, Any]:
    claims: dict[str, Any] = {"role": user.role, "node": user.node_id, "leader": bool(user.is_leader)}
    if user.unit_id:
        claims["unit"] = user.unit_id
    return claims


def access_claims_unverified(token: str) -> dict[str, Any]:
    """The claims of a token this server has just signed (no need to check our own signature)."""
    claims = json.loads(extract_compact(token.encode()).payload)
    return claims if isinstance(claims, dict) else {}


class HubAuthorizationServer(AuthorizationServer):
    def __init__(self, session: Session, settings: Settings, issuer: str, address: str = "") -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.session = session
        self.settings = settings
        self.issuer = issuer
        self.audience = issuer
        self.address = address
        self.token_endpoint = f"{issuer}/oauth/token"
        self.register_token_generator("default", TokenGenerator(self))
        self.register_extension(HubIssuer(issuer))  # RFC 9207: `iss` in every authorization response

    # --- storage ------------------------------------------------------------------------------------------------

    def query_client(self, client_id: str) -> RegisteredClient | None:
        row = self.session.get(OAuthClient, client_id) if isinstance(client_id, str) and len(client_id) <= 64 else None
        if row is None or not row.active:
            return None
        return RegisteredClient(row)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        claims = access_claims_unverified(token["access_token"])
        client: RegisteredClient = request.client
        user = request.user
        now = utcnow()
        previous = getattr(request, "refresh_token", None)
        code = getattr(request, "authorization_code", None)
        family = previous.family_id if previous is not None else code.family_id if code is not None else new_id()
        grant_type = request.payload.grant_type or ""
        refresh = token.get("refresh_token")
        row = OAuthToken(family_id=family, client_id=client.client_id, user_id=user.id if user else None,
                         grant_type=grant_type, scope=token.get("scope", ""), access_jti=claims["jti"],
                         access_expires_at=datetime.fromtimestamp(claims["exp"], UTC),
                         refresh_hash=sha256(refresh) if refresh else None,
                         refresh_expires_at=now + timedelta(hours=self.settings.session_hours) if refresh else None,
                         issued_at=now)
        if previous is not None and previous.refresh_expires_at is not None:
            # Rotation never extends the family's life beyond the first login's.
            row.refresh_expires_at = previous.refresh_expires_at
        self.session.add(row)
        client.row.last_used_at = now
        self.session.flush()
        self.record("token.refreshed" if previous is not None else "token.issued", request, entity_id=row.id,
                    detail={"grant_type": grant_type, "client_id": client.client_id, "jti": claims["jti"],
                            "scope": row.scope, "family": str(family)})

    def revoke_family(self, family_id: Any, reason: str, request: OAuth2Request | None = None) -> int:
        now = utcnow()
        result = self.session.execute(update(OAuthToken).where(OAuthToken.family_id == family_id,
                                                               OAuthToken.revoked_at.is_(None)).values(revoked_at=now))
        self.record("token.family_revoked", request, entity_id=family_id, detail={"reason": reason, "tokens": result.rowcount})
        return result.rowcount

    def node_active(self, node_id: str | None) -> bool:
        if not node_id:
            return True
        return self.session.scalar(select(Node.status).where(Node.id == node_id)) == "active"

    # --- audit ----------------------------------------------------------------------------------------------------

    def record(self, action: str, request: OAuth2Request | None, entity_id: Any = "", detail: dict[str, Any] | None = None,
               actor: str | None = None) -> None:
        client = getattr(request, "client", None) if request is not None else None
        user = getattr(request, "user", None) if request is not None else None
        if actor is None:
            actor = user.username if isinstance(user, User) else (client.client_id if client else "")
        payload = request.payload if request is not None else None
        if actor == "" and payload is not None:
            actor = str(payload.client_id or "")[:64]
        audit.record(self.session, self.settings.node_id, action, actor=actor[:64],
                     actor_id=user.id if isinstance(user, User) else None, entity_type="oauth",
                     entity_id=str(entity_id)[:64], detail=detail or {}, address=self.address[:64])

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> OAuthResponse:
        self.record("oauth.refused", request, detail={
            "error": error.error, "description": error.description or "", "endpoint": request.uri.split("?", 1)[0],
            "grant_type": request.payload.grant_type if request.payload else None,
            "client_id": request.payload.client_id if request.payload else None})
        return super().handle_error_response(request, error)

    # --- HTTP -----------------------------------------------------------------------------------------------------

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return SnapshotRequest(request)

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuthResponse:
        return OAuthResponse(status, body, list(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None
