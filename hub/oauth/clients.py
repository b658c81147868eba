"""OAuth clients: registering them, and how Authlib sees one (its ClientMixin view of our row)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.identity.scopes import DEFAULT_NODE_SCOPE, DEFAULT_PERSON_SCOPE, SCOPES, SPOKE_CLIENT_SCOPE
from common.models import Node, OAuthClient

GRANTS = ("authorization_code", "client_credentials")


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class ClientError(ValueError):
    """A registration the hub refuses; the message is for the operator."""


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str | None
    row: OAuthClient


def create_client(session: Session, name: str, grant: str, redirect_uris: list[str], scope: str | None = None,
                  public: bool = False, node: str | None = None, first_party: bool = False,
                  jwks: dict[str, Any] | None = None, post_logout_redirect_uris: list[str] | None = None) -> NewClient:
    """Register a client; a confidential one without keys gets a secret, shown once and stored as a hash."""
    if grant not in GRANTS:
        raise ClientError(f"unknown grant {grant!r}")
    if grant == "authorization_code" and not redirect_uris:
        raise ClientError("an authorization_code client needs at least one --redirect-uri")
    for uri in [*redirect_uris, *(post_logout_redirect_uris or [])]:
        if not uri.startswith(("https://", "http://127.0.0.1", "http://localhost", "http://[::1]")) or "#" in uri:
            raise ClientError(f"redirect URI {uri!r} must be https (or http on loopback) and carry no fragment")
    if public and grant == "client_credentials":
        raise ClientError("a client_credentials client must be confidential")
    if node is not None and session.get(Node, node) is None:
        raise ClientError(f"no such node: {node}")
    if jwks is not None:
        _check_public_jwks(jwks)
    requested = scope_to_list(scope) if scope else scope_to_list(
        DEFAULT_PERSON_SCOPE if grant == "authorization_code" else DEFAULT_NODE_SCOPE)
    unknown = [s for s in requested if s not in SCOPES]
    if unknown:
        raise ClientError(f"unknown scope(s): {' '.join(unknown)}")
    grant_types = [grant] + (["refresh_token"] if grant == "authorization_code" else [])
    method = "none" if public else ("private_key_jwt" if jwks is not None else "client_secret_basic")
    secret = None if method != "client_secret_basic" else secrets.token_urlsafe(32)
    row = OAuthClient(id=secrets.token_urlsafe(18), name=name, secret_hash=sha256(secret) if secret else None,
                      token_endpoint_auth_method=method, grant_types=grant_types, redirect_uris=list(redirect_uris),
                      post_logout_redirect_uris=list(post_logout_redirect_uris or
                                                     ([_origin_of(redirect_uris[0]) + "/"] if redirect_uris else [])),
                      scope=list_to_scope(requested), jwks=jwks, first_party=first_party, node_id=node)
    session.add(row)
    session.flush()
    return NewClient(row.id, secret, row)


def _origin_of(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


class RegisteredClient(ClientMixin):
    """Authlib's view of one client row."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row

    @property
    def client_id(self) -> str:
        return self.row.id

    @property
    def is_public(self) -> bool:
        return self.row.token_endpoint_auth_method == "none"

    def get_client_id(self) -> str:
        return self.row.id

    def get_default_redirect_uri(self) -> str | None:
        # Always ask for the redirect URI explicitly: exact matching has nothing to guess.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = scope_to_list(self.row.scope) or []
        if not scope:
            return list_to_scope(allowed)
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.row.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.row.secret_hash) and hmac.compare_digest(sha256(client_secret), self.row.secret_hash or "")

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in (self.row.grant_types or [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.row.grant_types or [])

    def public_keys(self) -> KeySet:
        return KeySet.import_key_set(self.row.jwks or {"keys": []})


def _check_public_jwks(jwks: dict[str, Any]) -> None:
    try:
        keys = KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ClientError(f"the JWK set is not valid: {exc}") from exc
    if not keys.keys or any(key.is_private for key in keys):
        raise ClientError("give the client's public key only, never its private key")


def register_node_client(session: Session, node_id: str, jwks: dict[str, Any], base_url: str | None = None) -> OAuthClient:
    """A spoke's own client, made at enrollment: private_key_jwt, first-party; it replaces the node's earlier ones."""
    _check_public_jwks(jwks)
    node = session.get(Node, node_id)
    if node is None:
        raise ClientError(f"no such node: {node_id}")
    for old in session.scalars(select(OAuthClient).where(OAuthClient.node_id == node_id, OAuthClient.first_party.is_(True),
                                                         OAuthClient.active.is_(True))):
        old.active = False  # a re-enrolled machine: the old key pair is worth nothing from now on
    row = OAuthClient(id=f"{node_id}.{secrets.token_urlsafe(9)}"[:64], name=node.name, secret_hash=None,
                      token_endpoint_auth_method="private_key_jwt",
                      grant_types=["authorization_code", "client_credentials"], redirect_uris=[],
                      post_logout_redirect_uris=[], scope=SPOKE_CLIENT_SCOPE, jwks=jwks, first_party=True,
                      node_id=node_id)
    session.add(row)
    if base_url:
        set_node_base_url(row, base_url)
    session.flush()
    return row


def set_node_base_url(row: OAuthClient, base_url: str) -> None:
    """Where a spoke is reached by browsers: its login callback and the page to return to after logging out."""
    base = base_url.rstrip("/")
    parsed = urlsplit(base)
    if parsed.scheme not in ("https", "http") or not parsed.netloc or parsed.path or parsed.query or parsed.fragment:
        raise ClientError("the spoke's address must be an origin such as https://spoke.example.org")
    if parsed.scheme == "http" and parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ClientError("a spoke outside loopback must be reached over https")
    row.redirect_uris = [f"{base}/auth/callback"]
    row.post_logout_redirect_uris = [f"{base}/login"]
