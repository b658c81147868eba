"""Machine clients (client credentials, private_key_jwt), key rotation, RP-initiated logout and the CLI."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from click.testing import CliRunner
from joserfc.jwk import RSAKey
from sqlalchemy import select, update

from common.db import Database
from common.models import Node, OAuthClient, SigningKey, utcnow
from common.settings import Settings
from hub.cli import hub
from oidc_support import (
    BASE, PERSON_SCOPE, REDIRECT, TOKEN, audit_actions, decode, jwks, login_and_get_tokens, oauth_client, query_of,
    register,
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_client_credentials_for_a_spoke(clients: Any, db: Database) -> None:
    info = register(db, "sc-shanghai spoke", grant="client_credentials", node="sc-shanghai", first_party=True)
    machine = oauth_client(clients(), info)
    token = machine.fetch_token(TOKEN, grant_type="client_credentials")
    claims = decode(token["access_token"], jwks(clients())).claims
    assert claims["role"] == "spoke" and claims["node"] == "sc-shanghai" and claims["sub"] == info["client_id"]
    assert claims["exp"] - claims["iat"] <= 900 and "sync" in claims["scope"].split()
    api = clients()
    health = api.get("/healthz", headers=bearer(token["access_token"]))
    assert health.status_code == 200
    # Spokes do not use the people's API (yet): the policy layer will decide what they may do.
    assert api.get("/api/v1/enterprises", headers=bearer(token["access_token"])).status_code == 403
    assert api.get("/enterprises", headers=bearer(token["access_token"])).status_code == 403

    # Suspending the node revokes its client at once.
    with db.transaction() as session:
        session.execute(update(Node).where(Node.id == "sc-shanghai").values(status="suspended"))
    assert api.get("/healthz", headers=bearer(token["access_token"])).status_code == 401
    with pytest.raises(Exception) as refused:
        machine.fetch_token(TOKEN, grant_type="client_credentials")
    assert "unauthorized_client" in str(refused.value)
    reasons = [d.get("reason") for a, d in audit_actions(db) if a == "token.refused"]
    assert "node not active" in reasons


def test_private_key_jwt_client_credentials(clients: Any, db: Database) -> None:
    key = RSAKey.generate_key(2048, auto_kid=True)
    info = register(db, "integration", grant="client_credentials", jwks={"keys": [key.as_dict(private=False)]})
    assert info["client_secret"] is None
    machine = oauth_client(clients(), {"client_id": info["client_id"], "client_secret": key},
                           token_endpoint_auth_method="private_key_jwt")
    machine.register_client_auth_method(PrivateKeyJWT(TOKEN))
    token = machine.fetch_token(TOKEN, grant_type="client_credentials")
    assert decode(token["access_token"], jwks(clients())).claims["client_id"] == info["client_id"]

    # An assertion signed by another key, and the same assertion twice, are refused.
    stranger = oauth_client(clients(), {"client_id": info["client_id"], "client_secret": RSAKey.generate_key(2048)},
                            token_endpoint_auth_method="private_key_jwt")
    stranger.register_client_auth_method(PrivateKeyJWT(TOKEN))
    with pytest.raises(Exception) as refused:
        stranger.fetch_token(TOKEN, grant_type="client_credentials")
    assert "invalid_client" in str(refused.value)
    from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign

    assertion = private_key_jwt_sign(key, client_id=info["client_id"], token_endpoint=TOKEN)
    form = {"grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    api = clients()
    assert api.http.post("/oauth/token", data=form).status_code == 200
    replay = api.http.post("/oauth/token", data=form)
    assert replay.status_code in (400, 401) and replay.json()["error"] == "invalid_client"
    # A secret-less client cannot be talked into client_secret_basic.
    assert api.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(info["client_id"], "guess")).status_code == 401


def test_key_rotation_keeps_old_tokens_valid_and_publishes_both(clients: Any, db: Database, settings: Settings,
                                                                 tmp_path: Path) -> None:
    info = register(db, first_party=True)
    rp = oauth_client(clients(), info, scope=PERSON_SCOPE)
    old_token, _ = login_and_get_tokens(clients("office"), rp)
    api = clients()
    old_kid = decode(old_token["access_token"], jwks(api)).header["kid"]

    result = CliRunner().invoke(hub, ["keys", "rotate", "--db", settings.database_url],
                                env={"LIANFU_SECRET_KEY": settings.secret_key, "LIANFU_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    published = {k.kid for k in jwks(api)}
    assert old_kid in published and len(published) == 2
    # The old token still works at the API; new tokens are signed with the new key.
    assert api.get("/api/v1/enterprises", headers=bearer(old_token["access_token"])).status_code == 200
    rp2 = oauth_client(clients(), info, scope=PERSON_SCOPE)
    new_token, _ = login_and_get_tokens(clients("leader"), rp2)
    new_kid = decode(new_token["access_token"], jwks(api)).header["kid"]
    assert new_kid != old_kid and new_kid in published
    assert api.get("/api/v1/enterprises", headers=bearer(new_token["access_token"])).status_code == 200
    assert decode(new_token["id_token"], jwks(api)).header["kid"] == new_kid

    # Once every token of the old key has expired, it is no longer published.
    with db.transaction() as session:
        session.execute(update(SigningKey).where(SigningKey.kid == old_kid)
                        .values(retired_at=utcnow() - timedelta(minutes=30)))
    assert {k.kid for k in jwks(api)} == {new_kid}
    assert "oauth.keys_rotated" in [a for a, _ in audit_actions(db)]


def test_rp_initiated_logout(clients: Any, db: Database) -> None:
    info = register(db, first_party=True, post_logout_redirect_uris=["https://rp.example/bye"])
    rp = oauth_client(clients(), info, scope=PERSON_SCOPE)
    person = clients("office")
    token, _ = login_and_get_tokens(person, rp)
    assert person.get("/enterprises", follow_redirects=False).status_code == 200

    unregistered = person.get("/oauth/logout", params={"id_token_hint": token["id_token"],
                                                       "post_logout_redirect_uri": "https://evil.example/"},
                              follow_redirects=False)
    assert unregistered.status_code == 400
    assert person.get("/enterprises", follow_redirects=False).status_code == 200

    done = person.get("/oauth/logout", params={"id_token_hint": token["id_token"], "state": "xyz",
                                               "post_logout_redirect_uri": "https://rp.example/bye"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "https://rp.example/bye?state=xyz"
    assert person.get("/enterprises", follow_redirects=False).status_code == 401  # the page session is gone

    # Without an ID token the person is asked first (a form with its CSRF token).
    again = clients("leader")
    page = again.get("/oauth/logout", params={"client_id": info["client_id"]})
    assert page.status_code == 200 and 'action="/oauth/logout"' in page.text
    confirmed = again.post("/oauth/logout", data={"client_id": info["client_id"], "csrf_token": again.csrf},
                           follow_redirects=False)
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/login"
    assert "logout" in [a for a, _ in audit_actions(db)]


def test_cli_client_create(settings: Settings, db: Database, tmp_path: Path) -> None:
    runner = CliRunner()
    # The hub's shared key, as every host and command of a PostgreSQL hub has it.
    env = {"LIANFU_DATA_DIR": str(tmp_path), "LIANFU_SECRET_KEY": settings.secret_key}
    made = runner.invoke(hub, ["client", "create", "portal", "--grant", "authorization_code", "--redirect-uri", REDIRECT,
                               "--scope", "openid profile enterprises:read", "--db", settings.database_url], env=env)
    assert made.exit_code == 0, made.output
    body = json.loads(made.output)
    assert body["client_id"] and body["client_secret"] and body["scope"] == "openid profile enterprises:read"
    public = json.loads(runner.invoke(hub, ["client", "create", "app", "--grant", "authorization_code", "--public",
                                            "--redirect-uri", REDIRECT, "--db", settings.database_url], env=env).output)
    assert "client_secret" not in public and public["token_endpoint_auth_method"] == "none"
    spoke = json.loads(runner.invoke(hub, ["client", "create", "sc-suzhou", "--grant", "client_credentials", "--node",
                                           "hub", "--first-party", "--db", settings.database_url], env=env).output)
    with db.reads() as session:
        row = session.get(OAuthClient, body["client_id"])
        assert row.secret_hash and body["client_secret"] not in json.dumps([row.secret_hash, row.name])
        assert session.get(OAuthClient, spoke["client_id"]).first_party is True
    for bad in (["--grant", "authorization_code"], ["--grant", "client_credentials", "--node", "nowhere"],
                ["--grant", "authorization_code", "--redirect-uri", "http://evil.example/cb"],
                ["--grant", "client_credentials", "--scope", "everything"]):
        refused = runner.invoke(hub, ["client", "create", "x", *bad, "--db", settings.database_url], env=env)
        assert refused.exit_code == 2 and "error:" in refused.output


def test_authorization_errors_after_login_go_back_to_the_client(clients: Any, db: Database) -> None:
    info = register(db, first_party=True)
    rp = oauth_client(clients(), info, scope="openid nonexistent:scope")
    uri, _ = rp.create_authorization_url(f"{BASE}/oauth/authorize", redirect_uri=REDIRECT, code_verifier="v" * 50,
                                         state="s", response_type="token")
    response = clients("office").get(uri, follow_redirects=False)
    params = query_of(response.headers["location"])
    assert params["error"] == "unsupported_response_type" and params["state"] == "s" and params["iss"] == BASE
    with db.reads() as session:
        assert session.scalar(select(OAuthClient.last_used_at).where(OAuthClient.id == info["client_id"])) is None


@pytest.mark.parametrize("command", [["client"], ["client", "create"], ["keys"], ["keys", "rotate"]])
def test_identity_commands_have_help(command: list[str]) -> None:
    result = CliRunner().invoke(hub, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
