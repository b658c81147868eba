"""Helpers for the OpenID Connect tests: register clients, drive Authlib's own client against the hub."""
from __future__ import annotations

import secrets
import warnings
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from common.db import Database
from common.models import AuditEntry
from hub.oauth.clients import create_client

with warnings.catch_warnings():
    # Authlib warns at import that it found httpx rather than its successor httpx2; the client works the same.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

BASE = "https://testserver.local"
AUTHORIZE = f"{BASE}/oauth/authorize"
TOKEN = f"{BASE}/oauth/token"
REDIRECT = "https://rp.example/callback"
PERSON_SCOPE = "openid profile enterprises:read cases:read"


def register(db: Database, name: str = "rp", grant: str = "authorization_code", **kwargs: Any) -> dict[str, Any]:
    if grant == "authorization_code":
        kwargs.setdefault("redirect_uris", [REDIRECT])
    else:
        kwargs.setdefault("redirect_uris", [])
    with db.transaction() as session:
        made = create_client(session, name, grant, **kwargs)
        return {"client_id": made.client_id, "client_secret": made.client_secret}


def oauth_client(transport_owner: Any, client: dict[str, Any], **kwargs: Any) -> OAuth2Client:
    """Authlib's httpx client, sending its requests through a Litestar TestClient's transport."""
    kwargs.setdefault("code_challenge_method", "S256")
    method = kwargs.pop("token_endpoint_auth_method", "client_secret_basic" if client.get("client_secret") else "none")
    return OAuth2Client(client["client_id"], client.get("client_secret"), token_endpoint_auth_method=method,
                        transport=transport_owner.http._transport, **kwargs)


def authorize(person: Any, rp: OAuth2Client, scope: str = PERSON_SCOPE, **extra: Any) -> tuple[Any, str, str]:
    """Send the logged-in person's browser to the authorization endpoint: (response, verifier, nonce)."""
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(12)
    extra.setdefault("code_verifier", verifier)
    uri, _state = rp.create_authorization_url(AUTHORIZE, redirect_uri=REDIRECT, scope=scope, nonce=nonce, **extra)
    return person.get(uri, follow_redirects=False), verifier, nonce


def login_and_get_tokens(person: Any, rp: OAuth2Client, scope: str = PERSON_SCOPE) -> tuple[dict[str, Any], str]:
    response, verifier, nonce = authorize(person, rp, scope)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    token = rp.fetch_token(TOKEN, authorization_response=location, redirect_uri=REDIRECT, code_verifier=verifier)
    return dict(token), nonce


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def jwks(client: Any) -> KeySet:
    return KeySet.import_key_set(client.get("/oauth/jwks").json())


def decode(token: str, keyset: KeySet) -> jwt.Token:
    return jwt.decode(token, keyset, algorithms=["RS256"])


def audit_actions(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.reads() as session:
        return [(e.action, e.detail) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.node_id, AuditEntry.seq))]


def token_post(http_owner: Any, client: dict[str, Any], data: dict[str, str], endpoint: str = "/oauth/token") -> Any:
    """A raw token-endpoint request, authenticated the way the client is registered (secret or none)."""
    if client.get("client_secret"):
        return http_owner.http.post(endpoint, data=data, auth=(client["client_id"], client["client_secret"]))
    return http_owner.http.post(endpoint, data={**data, "client_id": client["client_id"]})
