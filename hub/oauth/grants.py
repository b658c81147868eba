"""The grants the hub offers, each an Authlib class with our storage and our stricter rules filled in."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, UnauthorizedClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oidc.core import OpenIDCode, UserInfo
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import delete, exists, select

from common.federation import nodestate
from common.identity import totp
from common.models import AuthorizationCode, OAuthToken, UsedAssertion, User, utcnow
from hub.oauth import keys
from hub.oauth.clients import RegisteredClient, sha256
from hub.oauth.endpoints import HubIntrospectionEndpoint, HubRevocationEndpoint
from hub.oauth.server import CODE_TTL, TOKEN_AUTH_METHODS, HubAuthorizationServer, identity_claims

CODE_KEEP = timedelta(hours=1)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def active_user(server: HubAuthorizationServer, user_id: Any, via: str, family_id: Any = None) -> User | None:
    """The person a code or a refresh token stands for, while they and their node may still work."""
    user = server.session.get(User, user_id)
    if user is None or not user.active or user.deleted_at is not None:
        return None
    status = nodestate.halt_of(server.session, user.node_id)
    if status is not None:
        server.record("login.refused_node", None, entity_id=user.id, actor=user.username,
                      detail={"node": user.node_id, "status": status, "via": via})
        if family_id is not None:
            # The grant ends with the node's suspension, as its page sessions do: reinstating asks for a new login.
            server.revoke_family(family_id, "node not active")
        return None
    return user


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only (never `plain`), required of every client — public clients above all."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE with S256 is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)


class HubAuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    server: HubAuthorizationServer

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        now = utcnow()
        # Used and expired codes are kept a while to catch replays, then dropped.
        self.server.session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at < now - CODE_KEEP))
        self.server.session.add(AuthorizationCode(
            code_hash=sha256(code), client_id=request.client.client_id, user_id=request.user.id,
            redirect_uri=request.payload.redirect_uri or "", scope=request.scope or "", nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"), code_challenge_method=data.get("code_challenge_method"),
            auth_time=now, created_at=now, expires_at=now + CODE_TTL))
        self.server.session.flush()
        self.server.record("oauth.code_issued", request, detail={"client_id": request.client.client_id,
                                                                 "scope": request.scope or ""})

    def query_authorization_code(self, code: str, client: RegisteredClient) -> CodeView | None:
        # Locked, so two redemptions of one code cannot both see it unused (PostgreSQL; SQLite writes one at a time).
        if not isinstance(code, str):
            return None
        row = self.server.session.get(AuthorizationCode, sha256(code), with_for_update=True)
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            # A code presented twice was stolen or replayed: what it gave is revoked (RFC 6749 §4.1.2).
            self.server.revoke_family(row.family_id, "authorization code reused", self.request)
            return None
        if _aware(row.expires_at) < utcnow():
            return None
        # The hub's login asks for the second factor of every account that has one.
        return CodeView(row, ["pwd", "otp", "mfa"] if totp.has_totp(self.server.session, row.user_id) else ["pwd"])

    def delete_authorization_code(self, authorization_code: CodeView) -> None:
        authorization_code.row.used_at = utcnow()

    def authenticate_user(self, authorization_code: CodeView) -> User | None:
        return active_user(self.server, authorization_code.row.user_id, "authorization_code")


class CodeView:
    """Authlib's view of a stored authorization code."""

    def __init__(self, row: AuthorizationCode, amr: list[str]) -> None:
        self.row = row
        self.amr = amr
        self.family_id = row.family_id
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(_aware(self.row.auth_time).timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return self.amr


class HubOpenIDCode(OpenIDCode):
    """ID tokens signed with the hub's active key, with the nonce of the authorization request."""

    def __init__(self, server: HubAuthorizationServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return bool(self.server.session.scalar(select(exists().where(
            AuthorizationCode.client_id == request.payload.client_id, AuthorizationCode.nonce == nonce))))

    def resolve_client_private_key(self, client: RegisteredClient) -> RSAKey:
        return keys.private_key(self.server.settings, keys.active_key(self.server.session, self.server.settings))

    def get_client_algorithm(self, client: RegisteredClient) -> str:
        return keys.ALG

    def get_encode_header(self, client: RegisteredClient) -> dict[str, str]:
        return {"alg": keys.ALG, "kid": keys.active_key(self.server.session, self.server.settings).kid}

    def get_client_claims(self, client: RegisteredClient) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.server.issuer, "aud": [client.get_client_id()], "iat": now, "exp": now + keys.ID_TOKEN_TTL}

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return user_info(user, scope)


def user_info(user: User, scope: str) -> UserInfo:
    info = UserInfo(sub=str(user.id))
    if "profile" in (scope or "").split():
        info.update(name=user.display_name or user.username, preferred_username=user.username, **identity_claims(user))
    return info


class HubClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Spokes and integrations: a secret (client_secret_basic) or a signed assertion (private_key_jwt)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt"]
    server: HubAuthorizationServer

    def validate_token_request(self) -> None:
        super().validate_token_request()
        if not self.server.node_active(self.request.client.row.node_id):
            raise UnauthorizedClientError("The client's node is not active.")


class HubRefreshTokenGrant(grants.RefreshTokenGrant):
    """Each refresh token works once: using it rotates it; presenting a rotated one revokes its whole family."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: HubAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshView | None:
        row = self.server.session.scalars(select(OAuthToken).where(OAuthToken.refresh_hash == sha256(refresh_token))
                                          .with_for_update()).first()
        if row is None:
            return None
        if row.rotated_at is not None or row.revoked_at is not None:
            self.server.record("token.reuse_detected", self.request, entity_id=row.id,
                               detail={"family": str(row.family_id), "client_id": row.client_id})
            self.server.revoke_family(row.family_id, "refresh token reused", self.request)
            return None
        if row.refresh_expires_at is None or _aware(row.refresh_expires_at) < utcnow():
            return None
        return RefreshView(row)

    def authenticate_user(self, refresh_token: RefreshView) -> User | None:
        row = refresh_token.row
        return active_user(self.server, row.user_id, "refresh_token", row.family_id) if row.user_id else None

    def revoke_old_credential(self, refresh_token: RefreshView) -> None:
        refresh_token.row.rotated_at = utcnow()


class RefreshView:
    def __init__(self, row: OAuthToken) -> None:
        self.row = row
        self.family_id = row.family_id
        self.refresh_expires_at = row.refresh_expires_at

    def check_client(self, client: RegisteredClient) -> bool:
        return self.row.client_id == client.client_id

    def get_scope(self) -> str:
        return self.row.scope


class PrivateKeyJWT(JWTBearerClientAssertion):
    """RFC 7523 client authentication, registered under its standard name `private_key_jwt`."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: HubAuthorizationServer) -> None:
        super().__init__(validate_jti=True, leeway=keys.LEEWAY)
        self.server = server

    def get_audiences(self) -> list[str]:
        return [self.server.token_endpoint, self.server.issuer]

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        session = self.server.session
        session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < utcnow()))
        key = sha256(f"{claims['sub']}\0{jti}")
        if session.get(UsedAssertion, key) is not None:
            return False
        expires = datetime.fromtimestamp(int(claims["exp"]) + keys.LEEWAY, UTC)
        session.add(UsedAssertion(id=key, expires_at=expires))
        session.flush()
        return True

    def resolve_client_public_key(self, client: RegisteredClient) -> KeySet:
        if not client.row.jwks:
            raise InvalidClientError(description="The client has no registered public key.")
        return client.public_keys()


def build_server(session: Any, settings: Any, issuer: str, address: str = "") -> HubAuthorizationServer:
    """One server per request, on the request's session."""
    server = HubAuthorizationServer(session, settings, issuer, address)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT(server))
    server.register_grant(HubAuthorizationCodeGrant, [S256CodeChallenge(required=True), HubOpenIDCode(server)])
    server.register_grant(HubClientCredentialsGrant)
    server.register_grant(HubRefreshTokenGrant)
    server.register_endpoint(HubRevocationEndpoint)
    server.register_endpoint(HubIntrospectionEndpoint)
    return server
