"""OAuth clients: registering them, and how Authlib sees one (its ClientMixin view of our row)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from common.i18n import N_
from common.models import Node, OAuthClient

# API areas each have a read and a write scope; people belong to the roster area of enterprises.
API_AREAS = ("enterprises", "cases", "visits", "bulletins", "applications", "nodes")
AREA_OF_PATH = {"enterprises": "enterprises", "people": "enterprises", "cases": "cases", "visits": "visits",
                "bulletins": "bulletins", "applications": "applications", "nodes": "nodes"}
SCOPES: dict[str, str] = {
    "openid": N_("Confirm who you are"),
    "profile": N_("Your name, role, node and unit"),
    "sync": N_("Synchronise a node's data with the hub"),
    **{f"{area}:{mode}": text for area in API_AREAS
       for mode, text in (("read", N_("Read {area}")), ("write", N_("Change {area}")))},
}
AREA_NAMES = {
    "enterprises": N_("enterprises and their people"), "cases": N_("cases"), "visits": N_("visits"),
    "bulletins": N_("bulletins"), "applications": N_("applications"), "nodes": N_("nodes"),
}
DEFAULT_PERSON_SCOPE = "openid profile " + " ".join(f"{a}:{m}" for a in API_AREAS for m in ("read", "write"))
DEFAULT_NODE_SCOPE = "sync " + " ".join(f"{a}:read" for a in API_AREAS)
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
        try:
            keys = KeySet.import_key_set(jwks)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ClientError(f"the JWK set is not valid: {exc}") from exc
        if any(key.is_private for key in keys):
            raise ClientError("give the client's public key only, never its private key")
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
