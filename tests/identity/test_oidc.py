"""The hub as OpenID Connect provider, driven from outside by Authlib's own client through the real login form."""
from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import unquote

import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata
from sqlalchemy import select

from common.db import Database
from common.models import SigningKey
from oidc_support import (
    BASE, PERSON_SCOPE, REDIRECT, TOKEN, audit_actions, authorize, decode, jwks, login_and_get_tokens,
    oauth_client, query_of, register, token_post,
)


def form_fields(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page)}


def test_discovery_names_every_endpoint(clients: Any, db: Database) -> None:
    anonymous = clients()
    meta = anonymous.get("/.well-known/openid-configuration").json()
    OpenIDProviderMetadata(meta).validate()
    assert meta["issuer"] == BASE
    for name in ("authorization", "token", "userinfo", "revocation", "introspection", "end_session"):
        assert meta[f"{name}_endpoint"].startswith(f"{BASE}/oauth/")
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert set(meta["grant_types_supported"]) == {"authorization_code", "client_credentials", "refresh_token"}
    assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "private_key_jwt", "none"}
    keys = anonymous.get(meta["jwks_uri"].removeprefix(BASE)).json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["kid"]
    assert not {"d", "p", "q"} & set(keys[0])  # the private part never leaves the hub
    with db.reads() as session:
        stored = session.scalars(select(SigningKey)).one()
        # ... and is stored encrypted.
        assert stored.private_jwk.startswith("v1:") and '"d"' not in stored.private_jwk


def test_code_flow_with_pkce_through_the_login_form(clients: Any, db: Database, world: dict[str, Any]) -> None:
    rp_info = register(db, "roster app", first_party=True)
    anonymous = clients()
    rp = oauth_client(anonymous, rp_info, scope=PERSON_SCOPE, redirect_uri=REDIRECT)

    # Not logged in yet: the hub sends the person to its login page, which brings them back.
    response, verifier, _ = authorize(anonymous, rp)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=%2Foauth%2Fauthorize")
    target = query_of(response.headers["location"])["next"]
    anonymous.fetch_csrf()
    logged_in = anonymous.post("/login", data={"username": "workstation_1", "password": "lianfu-demo",
                                               "csrf_token": anonymous.csrf, "next": target}, follow_redirects=False)
    assert logged_in.status_code == 303 and logged_in.headers["location"] == target
    back = anonymous.get(target, follow_redirects=False)
    assert back.status_code == 302 and back.headers["location"].startswith(REDIRECT)
    first_token = rp.fetch_token(TOKEN, authorization_response=back.headers["location"], redirect_uri=REDIRECT,
                                 code_verifier=verifier)
    assert decode(first_token["access_token"], jwks(anonymous)).claims["node"] == "ws-demo-1"

    person = clients("subcenter_sh")
    token, nonce = login_and_get_tokens(person, rp)
    assert token["token_type"].lower() == "bearer" and 0 < token["expires_in"] <= 900
    assert token["refresh_token"] and token["id_token"]

    keyset = jwks(anonymous)
    id_token = decode(token["id_token"], keyset)
    claims = id_token.claims
    assert id_token.header["kid"] in {k.kid for k in keyset}
    assert claims["iss"] == BASE and claims["aud"] == [rp_info["client_id"]] and claims["nonce"] == nonce
    assert claims["sub"] == str(world["users"]["subcenter_sh"])
    assert claims["role"] == "subcenter" and claims["node"] == "sc-shanghai" and "at_hash" in claims

    access = decode(token["access_token"], keyset)
    assert access.header["typ"] == "at+jwt"
    at = access.claims
    assert at["iss"] == BASE and at["client_id"] == rp_info["client_id"] and at["sub"] == claims["sub"]
    assert at["exp"] - at["iat"] <= 900 and at["jti"] and at["aud"]
    assert at["role"] == "subcenter" and at["node"] == "sc-shanghai" and at["leader"] is False
    assert set(at["scope"].split()) == set(PERSON_SCOPE.split())

    # The API with the person's token: sub-center Shanghai sees only its own subtree.
    api = clients()
    listing = api.get("/api/v1/enterprises", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert listing.status_code == 200, listing.text
    nodes = {item["node"] for item in listing.json()["items"]}
    assert nodes == {"sc-shanghai", "ws-demo-1"}
    # Userinfo answers the same person.
    info = api.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert info["sub"] == claims["sub"] and info["preferred_username"] == "subcenter_sh"
    actions = [a for a, _ in audit_actions(db)]
    assert "oauth.code_issued" in actions and "token.issued" in actions


def test_authorization_response_carries_iss_and_state(clients: Any, db: Database) -> None:
    rp_info = register(db, first_party=True)
    rp = oauth_client(clients(), rp_info, scope=PERSON_SCOPE)
    response, _, _ = authorize(clients("office"), rp, state="opaque-state-123")
    params = query_of(response.headers["location"])
    assert response.headers["location"].startswith(REDIRECT + "?")
    assert params["iss"] == BASE and params["state"] == "opaque-state-123" and params["code"]


def test_liaison_token_carries_unit_and_leader_flag(clients: Any, db: Database) -> None:
    rp_info = register(db, first_party=True)
    rp = oauth_client(clients(), rp_info, scope=PERSON_SCOPE)
    keyset = jwks(clients())
    token, _ = login_and_get_tokens(clients("liaison_xz"), rp)
    assert decode(token["access_token"], keyset).claims["unit"] == "criminal-investigation"
    rp2 = oauth_client(clients(), rp_info, scope=PERSON_SCOPE)
    token, _ = login_and_get_tokens(clients("leader"), rp2)
    claims = decode(token["access_token"], keyset).claims
    assert claims["leader"] is True and "unit" not in claims


def test_consent_is_asked_of_third_party_clients_only(clients: Any, db: Database) -> None:
    third = register(db, "外部应用<b>")
    person = clients("office")
    rp = oauth_client(clients(), third, scope=PERSON_SCOPE)
    response, verifier, _ = authorize(person, rp, state="s1")
    assert response.status_code == 200 and 'name="decision"' in response.text
    assert "“外部应用&lt;b&gt;”请求以您（office）的身份" in response.text and "查看企业及其人员" in response.text
    # The consent form is a form like any other: without the CSRF token it is refused.
    fields = form_fields(response.text)
    no_csrf = {k: v for k, v in fields.items() if k != "csrf_token"}
    refused = person.http.post("/oauth/authorize", data={**no_csrf, "decision": "allow"}, follow_redirects=False,
                               headers={"X-CSRF-Token": ""})
    assert refused.status_code == 403
    allowed = person.post("/oauth/authorize", data={**fields, "decision": "allow"}, follow_redirects=False)
    assert allowed.status_code == 302, allowed.text
    params = query_of(allowed.headers["location"])
    assert params["state"] == "s1" and params["iss"] == BASE and params["code"]
    token = rp.fetch_token(TOKEN, authorization_response=allowed.headers["location"], redirect_uri=REDIRECT,
                           code_verifier=verifier)
    assert token["access_token"]

    response, _, _ = authorize(person, rp, state="s2")
    fields = form_fields(response.text)
    denied = person.post("/oauth/authorize", data={**fields, "decision": "deny"}, follow_redirects=False)
    params = query_of(denied.headers["location"])
    assert params["error"] == "access_denied" and params["state"] == "s2" and params["iss"] == BASE

    first = register(db, "spoke", first_party=True)
    rp = oauth_client(clients(), first, scope=PERSON_SCOPE)
    response, _, _ = authorize(person, rp)
    assert response.status_code == 302 and "code=" in response.headers["location"]


@pytest.mark.parametrize("case", ["missing", "plain", "wrong"])
def test_pkce_is_required_and_s256_only(case: str, clients: Any, db: Database) -> None:
    rp_info = register(db, public=True, first_party=True)
    person = clients("office")
    if case == "missing":
        rp = oauth_client(clients(), rp_info, scope=PERSON_SCOPE, code_challenge_method=None)
        response, _, _ = authorize(person, rp, state="st")
        params = query_of(response.headers["location"])
        assert params["error"] == "invalid_request" and params["state"] == "st" and params["iss"] == BASE
    elif case == "plain":
        rp = oauth_client(clients(), rp_info, scope=PERSON_SCOPE, code_challenge_method=None)
        verifier = "p" * 50
        response, _, _ = authorize(person, rp, code_challenge=verifier, code_challenge_method="plain")
        assert query_of(response.headers["location"])["error"] == "invalid_request"
    else:
        rp = oauth_client(clients(), rp_info, scope=PERSON_SCOPE)
        response, _, _ = authorize(person, rp)
        assert response.status_code == 302
        refused = token_post(clients(), rp_info, {"grant_type": "authorization_code", "redirect_uri": REDIRECT,
                                                  "code": query_of(response.headers["location"])["code"],
                                                  "code_verifier": "w" * 50})
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    refusals = [d for a, d in audit_actions(db) if a == "oauth.refused"]
    assert refusals, "every refusal is audited"


def test_unregistered_redirect_uri_is_never_redirected_to(clients: Any, db: Database) -> None:
    rp_info = register(db, first_party=True)
    rp = oauth_client(clients(), rp_info, scope=PERSON_SCOPE)
    person = clients("office")
    for uri in ("https://evil.example/callback", REDIRECT + "/extra", REDIRECT.upper()):
        response = person.get(rp.create_authorization_url("/oauth/authorize", redirect_uri=uri, code_verifier="v" * 50)[0]
                              .replace("/oauth/authorize", f"{BASE}/oauth/authorize", 1), follow_redirects=False)
        assert response.status_code == 400 and "location" not in response.headers
        assert response.headers["content-type"].startswith("application/problem+json")
    assert sum(1 for a, _ in audit_actions(db) if a == "oauth.refused") == 3


def test_wrong_client_secret_is_refused_and_audited(clients: Any, db: Database) -> None:
    info = register(db, "integration", grant="client_credentials")
    bad = oauth_client(clients(), {**info, "client_secret": "not-the-secret"})
    with pytest.raises(Exception) as refused:
        bad.fetch_token(TOKEN, grant_type="client_credentials")
    assert "invalid_client" in str(refused.value)
    good = oauth_client(clients(), info)
    token = good.fetch_token(TOKEN, grant_type="client_credentials")
    assert token["access_token"] and "refresh_token" not in token
    refusals = [d for a, d in audit_actions(db) if a == "oauth.refused"]
    assert refusals[-1]["error"] == "invalid_client"


def test_code_is_single_use_and_bound_to_its_redirect_uri(clients: Any, db: Database) -> None:
    rp_info = register(db, first_party=True)
    rp = oauth_client(clients(), rp_info, scope=PERSON_SCOPE)
    person = clients("office")
    response, verifier, _ = authorize(person, rp)
    code = query_of(response.headers["location"])["code"]
    anonymous = clients()
    wrong_uri = token_post(anonymous, rp_info, {"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": REDIRECT + "x", "code_verifier": verifier})
    assert wrong_uri.json()["error"] == "invalid_grant"
    first = token_post(anonymous, rp_info, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                            "code_verifier": verifier})
    assert first.status_code == 200, first.text
    again = token_post(anonymous, rp_info, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                            "code_verifier": verifier})
    assert again.json()["error"] == "invalid_grant"
    # The replayed code took back what it had given.
    api = clients().get("/api/v1/enterprises", headers={"Authorization": f"Bearer {first.json()['access_token']}"})
    assert api.status_code == 401
    assert "token.family_revoked" in [a for a, _ in audit_actions(db)]


def test_prompt_values(clients: Any, db: Database) -> None:
    person = clients("office")
    first = oauth_client(clients(), register(db, "spoke", first_party=True), scope=PERSON_SCOPE)
    third = oauth_client(clients(), register(db, "outsider"), scope=PERSON_SCOPE)
    # prompt=login: log in again, then come back without being asked again.
    again, _, _ = authorize(person, first, prompt="login")
    assert again.status_code == 303 and again.headers["location"].startswith("/login?next=")
    assert "prompt" not in unquote(again.headers["location"])
    # prompt=none where consent would be needed: an error for the client, never a page.
    silent, _, _ = authorize(person, third, prompt="none", state="q")
    params = query_of(silent.headers["location"])
    assert params["error"] == "consent_required" and params["state"] == "q" and params["iss"] == BASE
    # prompt=none for a first-party client with a session: the code comes straight back.
    silent, _, _ = authorize(person, first, prompt="none")
    assert "code" in query_of(silent.headers["location"])
    # prompt=consent asks even for a first-party client.
    asked, _, _ = authorize(person, first, prompt="consent")
    assert asked.status_code == 200 and 'name="decision"' in asked.text
