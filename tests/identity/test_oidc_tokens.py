"""Tokens after they are issued: refresh rotation, revocation, introspection, forged and expired tokens, scopes."""
from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select, update

from common.db import Database
from common.models import Node, OAuthToken, SigningKey, User, utcnow
from common.settings import Settings
from hub.oauth import keys
from oidc_support import (
    BASE, PERSON_SCOPE, TOKEN, audit_actions, decode, jwks, login_and_get_tokens, oauth_client, register,
    token_post,
)

REVOKE = f"{BASE}/oauth/revoke"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def person_tokens(clients: Any, db: Database, username: str = "subcenter_sh", scope: str = PERSON_SCOPE,
                  **register_args: Any) -> tuple[dict[str, Any], dict[str, Any], Any]:
    info = register(db, first_party=True, **register_args)
    rp = oauth_client(clients(), info, scope=scope)
    token, _ = login_and_get_tokens(clients(username), rp, scope)
    return token, info, rp


def test_refresh_rotates_and_reuse_revokes_the_family(clients: Any, db: Database) -> None:
    first, info, _ = person_tokens(clients, db)
    api = clients()
    second = token_post(api, info, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    assert api.get("/api/v1/enterprises", headers=bearer(second["access_token"])).status_code == 200

    # The first refresh token again: someone holds a copy. Everything of this login is revoked.
    reused = token_post(api, info, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert api.get("/api/v1/enterprises", headers=bearer(second["access_token"])).status_code == 401
    third = token_post(api, info, {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
    assert third.json()["error"] == "invalid_grant"
    actions = [a for a, _ in audit_actions(db)]
    assert "token.refreshed" in actions and "token.reuse_detected" in actions and "token.family_revoked" in actions
    with db.reads() as session:
        rows = session.scalars(select(OAuthToken)).all()
        assert len(rows) == 2 and all(r.revoked_at is not None for r in rows)
        # Only hashes are stored.
        assert all(r.refresh_hash not in (first["refresh_token"], second["refresh_token"]) for r in rows)


def test_revoked_token_is_refused_by_the_api(clients: Any, db: Database) -> None:
    token, info, rp = person_tokens(clients, db)
    api = clients()
    assert api.get("/api/v1/enterprises", headers=bearer(token["access_token"])).status_code == 200
    revoked = rp.revoke_token(REVOKE, token=token["access_token"], token_type_hint="access_token")
    assert revoked.status_code == 200
    refused = api.get("/api/v1/enterprises", headers=bearer(token["access_token"]))
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    # Revoking ended the grant: its refresh token is dead as well.
    assert token_post(api, info, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}).status_code == 400
    actions = [(a, d) for a, d in audit_actions(db)]
    assert any(a == "token.revoked" for a, _ in actions)
    assert any(a == "token.refused" and d["reason"] == "token revoked" for a, d in actions)


def test_introspection_of_active_revoked_and_expired_tokens(clients: Any, db: Database) -> None:
    token, info, rp = person_tokens(clients, db)
    api = clients()
    active = token_post(api, info, {"token": token["access_token"]}, "/oauth/introspect").json()
    assert active["active"] is True and active["role"] == "subcenter" and active["node"] == "sc-shanghai"
    assert active["client_id"] == info["client_id"] and active["username"] == "subcenter_sh" and active["iss"] == BASE
    refresh = token_post(api, info, {"token": token["refresh_token"], "token_type_hint": "refresh_token"}, "/oauth/introspect")
    assert refresh.json()["active"] is True

    # Another (third-party) client may not look at this client's tokens.
    other = register(db, "other", grant="client_credentials")
    assert token_post(api, other, {"token": token["access_token"]}, "/oauth/introspect").json() == {"active": False}

    with db.transaction() as session:
        session.execute(update(OAuthToken).values(access_expires_at=utcnow() - timedelta(minutes=1)))
    expired = token_post(api, info, {"token": token["access_token"]}, "/oauth/introspect").json()
    assert expired == {"active": False}

    rp.revoke_token(REVOKE, token=token["refresh_token"], token_type_hint="refresh_token")
    revoked = token_post(api, info, {"token": token["refresh_token"]}, "/oauth/introspect").json()
    assert revoked == {"active": False}
    # A public client cannot introspect at all.
    public = register(db, "public", public=True)
    assert token_post(api, public, {"token": token["access_token"]}, "/oauth/introspect").status_code in (400, 401)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _resign(token: str, key: Any, kid: str, **changes: Any) -> str:
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    claims.update(changes)
    return jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": kid}, claims, key)


def _hub_key(db: Database, settings: Settings) -> tuple[RSAKey, str]:
    with db.reads() as session:
        row = session.scalars(select(SigningKey).where(SigningKey.status == "active")).one()
        return keys.private_key(settings, row), row.kid


@pytest.mark.parametrize("forgery", ["expired", "other_key_same_kid", "unknown_kid", "alg_none", "tampered", "wrong_typ",
                                     "garbage", "wrong_issuer"])
def test_forged_or_expired_tokens_answer_401(forgery: str, clients: Any, db: Database, settings: Settings) -> None:
    token, _, _ = person_tokens(clients, db)
    access = token["access_token"]
    hub_key, kid = _hub_key(db, settings)
    now = int(time.time())
    if forgery == "expired":
        bad = _resign(access, hub_key, kid, iat=now - 1000, nbf=now - 1000, exp=now - 60)
    elif forgery == "other_key_same_kid":
        bad = _resign(access, RSAKey.generate_key(2048), kid)
    elif forgery == "unknown_kid":
        bad = _resign(access, RSAKey.generate_key(2048), "somebody-elses-key")
    elif forgery == "alg_none":
        header, payload, _ = access.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["role"] = "office"
        unsigned_header = _b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": kid}).encode())
        bad = f"{unsigned_header}.{_b64(json.dumps(claims).encode())}."
    elif forgery == "tampered":
        header, payload, signature = access.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["node"] = "hub"
        bad = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    elif forgery == "wrong_typ":
        claims = json.loads(base64.urlsafe_b64decode(access.split(".")[1] + "=="))
        bad = jwt.encode({"alg": "RS256", "kid": kid}, claims, hub_key)  # an ID-token-like JWT, not an access token
    elif forgery == "wrong_issuer":
        bad = _resign(access, hub_key, kid, iss="https://elsewhere.example")
    else:
        bad = "not.a.jwt"
    api = clients()
    refused = api.get("/api/v1/enterprises", headers=bearer(bad))
    assert refused.status_code == 401, refused.text
    assert 'Bearer realm="lianfu", error="invalid_token"' in refused.headers["www-authenticate"]
    assert refused.json()["status"] == 401
    refusals = [d for a, d in audit_actions(db) if a == "token.refused"]
    assert len(refusals) == 1 and refusals[0]["path"] == "/api/v1/enterprises"
    # The genuine token still works: nothing above touched it.
    assert api.get("/api/v1/enterprises", headers=bearer(access)).status_code == 200


def test_small_clock_leeway(clients: Any, db: Database, settings: Settings) -> None:
    token, _, _ = person_tokens(clients, db)
    hub_key, kid = _hub_key(db, settings)
    now = int(time.time())
    # Expired ten seconds ago by our clock: within the leeway a slightly slow clock is forgiven.
    late = _resign(token["access_token"], hub_key, kid, exp=now - 10)
    assert clients().get("/api/v1/enterprises", headers=bearer(late)).status_code == 200


def test_scopes_limit_what_a_token_may_do(clients: Any, db: Database) -> None:
    token, _, _ = person_tokens(clients, db, username="office", scope="openid enterprises:read")
    api = clients()
    assert api.get("/api/v1/enterprises", headers=bearer(token["access_token"])).status_code == 200
    assert api.get("/api/v1/people", headers=bearer(token["access_token"])).status_code == 200
    cases = api.get("/api/v1/cases", headers=bearer(token["access_token"]))
    assert cases.status_code == 403 and 'error="insufficient_scope"' in cases.headers["www-authenticate"]
    write = api.post("/api/v1/enterprises", json={"name": "x"}, headers=bearer(token["access_token"]))
    assert write.status_code == 403 and 'scope="enterprises:write"' in write.headers["www-authenticate"]
    assert "token.insufficient_scope" in [a for a, _ in audit_actions(db)]
    trail = api.get("/api/v1/audit", headers=bearer(token["access_token"]))
    assert trail.status_code == 403 and 'scope="audit:read"' in trail.headers["www-authenticate"]


def test_the_office_reads_the_audit_trail_with_a_token_of_its_scope(clients: Any, db: Database) -> None:
    token, _, _ = person_tokens(clients, db, username="office", scope="openid audit:read")
    trail = clients().get("/api/v1/audit", params={"limit": 5}, headers=bearer(token["access_token"]))
    assert trail.status_code == 200, trail.text
    assert 0 < len(trail.json()["items"]) <= 5


def test_user_state_bites_at_once(clients: Any, db: Database) -> None:
    token, _, _ = person_tokens(clients, db)
    api = clients()
    assert api.get("/api/v1/enterprises", headers=bearer(token["access_token"])).status_code == 200
    with db.transaction() as session:
        session.execute(update(User).where(User.username == "subcenter_sh").values(active=False))
    assert api.get("/api/v1/enterprises", headers=bearer(token["access_token"])).status_code == 401
    with db.transaction() as session:
        session.execute(update(User).where(User.username == "subcenter_sh").values(active=True))
        session.execute(update(Node).where(Node.id == "sc-shanghai").values(status="suspended"))
    assert api.get("/api/v1/enterprises", headers=bearer(token["access_token"])).status_code == 401


def test_page_sessions_are_unaffected(clients: Any) -> None:
    office = clients("office")
    assert office.get("/api/v1/enterprises").status_code == 200
    assert office.post("/api/v1/enterprises", json={}, headers={"X-CSRF-Token": ""}).status_code == 403


def test_id_token_and_access_token_share_the_published_keys(clients: Any, db: Database) -> None:
    token, _, _ = person_tokens(clients, db)
    keyset = jwks(clients())
    assert decode(token["id_token"], keyset).header["kid"] == decode(token["access_token"], keyset).header["kid"]
    assert TOKEN.endswith("/oauth/token")
