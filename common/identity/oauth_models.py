"""The hub as identity provider: OAuth clients, signing keys, authorization codes and issued tokens.

Every secret, code and refresh token is stored only as its sha256; access tokens are JWTs known by their `jti`.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, new_id, utcnow


class OAuthClient(Base):
    """A registered client: a spoke, an integration, or a person-facing app (public or confidential)."""

    __tablename__ = "oauth_client"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the client_id
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # client_secret_basic / private_key_jwt / none (public clients)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    grant_types: Mapped[list[Any]] = mapped_column(default=list)
    redirect_uris: Mapped[list[Any]] = mapped_column(default=list)
    post_logout_redirect_uris: Mapped[list[Any]] = mapped_column(default=list)
    scope: Mapped[str] = mapped_column(Text, default="")
    # The client's public keys for private_key_jwt (a JWK set); never a private key.
    jwks: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    node_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("node.id"), index=True, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class SigningKey(Base):
    """A key the hub signs tokens with; retired keys stay published until their tokens have expired."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]] = mapped_column()
    # The private JWK, encrypted with a key derived from the node's secret key.
    private_jwk: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)  # active / retired
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class AuthorizationCode(Base):
    """A one-time authorization code; once used it stays as a marker, so a replay revokes what it gave."""

    __tablename__ = "oauth_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("oauth_client.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    redirect_uri: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(String(255), default=None)
    code_challenge: Mapped[str | None] = mapped_column(String(128), default=None)
    code_challenge_method: Mapped[str | None] = mapped_column(String(16), default=None)
    auth_time: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class OAuthToken(Base):
    """One issue of tokens: the access token's jti and, where there is one, the refresh token's hash.

    Rotating a refresh token adds a row to the same family; presenting a rotated one revokes the family.
    """

    __tablename__ = "oauth_token"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("oauth_client.id"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"), index=True, default=None)
    grant_type: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(Text, default="")
    access_jti: Mapped[str] = mapped_column(String(64), unique=True)
    access_expires_at: Mapped[datetime] = mapped_column()
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class UsedAssertion(Base):
    """A private_key_jwt client assertion already accepted (client and jti), kept until it expires."""

    __tablename__ = "oauth_used_assertion"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of client_id and jti
    expires_at: Mapped[datetime] = mapped_column(index=True)
