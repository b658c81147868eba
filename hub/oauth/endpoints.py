"""RFC 7009 revocation and RFC 7662 introspection of the tokens this hub issued."""
from __future__ import annotations

from datetime import UTC
from typing import Any

from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.federation import nodestate
from common.models import OAuthToken, User, utcnow
from hub.oauth import keys
from hub.oauth.clients import RegisteredClient, sha256
from hub.oauth.server import TOKEN_AUTH_METHODS, HubAuthorizationServer, identity_claims


def signed_claims(session: Session, token: str) -> dict[str, Any] | None:
    """The claims of an access token if one of our published keys signed it (expiry is the caller's concern)."""
    try:
        keyset = KeySet.import_key_set({"keys": keys.published(session)})
        decoded = jwt.decode(token, keyset, algorithms=[keys.ALG])
    except (JoseError, ValueError, TypeError):
        return None
    if decoded.header.get("typ") != "at+jwt":
        return None
    return decoded.claims


class TokenView:
    """One issued token as Authlib's endpoints see it: the access token or the refresh token of a row."""

    def __init__(self, row: OAuthToken, kind: str) -> None:
        self.row = row
        self.kind = kind

    def check_client(self, client: RegisteredClient) -> bool:
        return self.row.client_id == client.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def expires_at(self) -> int:
        moment = self.row.access_expires_at if self.kind == "access_token" else self.row.refresh_expires_at
        return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()) if moment else 0

    def is_expired(self) -> bool:
        return self.expires_at() <= int(utcnow().timestamp())

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or (self.kind == "refresh_token" and self.row.rotated_at is not None)


def find_token(server: HubAuthorizationServer, token: str, hint: str | None) -> TokenView | None:
    session = server.session
    if hint != "refresh_token" and token.count(".") == 2:
        claims = signed_claims(session, token)
        if claims and claims.get("iss") == server.issuer:
            row = session.scalars(select(OAuthToken).where(OAuthToken.access_jti == str(claims.get("jti")))).first()
            if row is not None:
                return TokenView(row, "access_token")
    if hint != "access_token" or token.count(".") != 2:
        row = session.scalars(select(OAuthToken).where(OAuthToken.refresh_hash == sha256(token))).first()
        if row is not None:
            return TokenView(row, "refresh_token")
    return None


class HubRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS
    server: HubAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenView | None:
        return find_token(self.server, token_string, token_type_hint)

    def revoke_token(self, token: TokenView, request: Any) -> None:
        # Revoking either token ends the grant: the access and refresh tokens of the whole family.
        self.server.record("token.revoked", request, entity_id=token.row.id,
                           detail={"kind": token.kind, "client_id": token.row.client_id, "jti": token.row.access_jti})
        self.server.revoke_family(token.row.family_id, f"{token.kind} revoked by its client", request)


class HubIntrospectionEndpoint(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt"]
    server: HubAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenView | None:
        return find_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: TokenView, client: RegisteredClient, request: Any) -> bool:
        # A client may look at its own tokens; first-party resource servers (our spokes) at any.
        return token.check_client(client) or client.row.first_party

    def introspect_token(self, token: TokenView) -> dict[str, Any]:
        row = token.row
        body: dict[str, Any] = {
            "active": True, "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "client_id": row.client_id, "scope": row.scope, "iss": self.server.issuer, "exp": token.expires_at(),
            "iat": int(row.issued_at.replace(tzinfo=row.issued_at.tzinfo or UTC).timestamp()),
        }
        if token.kind == "access_token":
            body["jti"] = row.access_jti
            body["aud"] = self.server.audience
        if row.user_id is not None:
            user = self.server.session.get(User, row.user_id)
            if user is None or not user.active or user.deleted_at is not None or \
                    nodestate.halt_of(self.server.session, user.node_id) is not None:
                return {"active": False}  # a spoke asks this of a person's token: it stops with their node too
            body.update(sub=str(user.id), username=user.username, **identity_claims(user))
        else:
            client = self.server.query_client(row.client_id)
            if client is None:
                return {"active": False}
            body.update(sub=row.client_id, role="spoke" if client.row.node_id else "client", node=client.row.node_id or "")
        return body
