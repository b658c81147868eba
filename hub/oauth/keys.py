"""The hub's signing keys: created on first need, rotated by the operator, published while their tokens live."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from common.models import SigningKey, utcnow
from common.sealing import seal, unseal
from common.settings import Settings

ALG = "RS256"
# Longest life of anything signed (access and ID tokens), plus the clock leeway verifiers allow.
ACCESS_TOKEN_TTL = 600
ID_TOKEN_TTL = 600
LEEWAY = 30
PUBLISH_RETIRED_FOR = timedelta(seconds=max(ACCESS_TOKEN_TTL, ID_TOKEN_TTL) + 2 * LEEWAY)


def _seal(settings: Settings, plaintext: bytes) -> str:
    return seal(settings.secret_key, "signing keys", plaintext)


def _open(settings: Settings, sealed: str) -> bytes:
    return unseal(settings.secret_key, "signing keys", sealed)


def _new_key(session: Session, settings: Settings) -> SigningKey:
    key = RSAKey.generate_key(2048, auto_kid=True)
    public = key.as_dict(private=False, alg=ALG, use="sig")
    row = SigningKey(kid=key.kid, alg=ALG, public_jwk=public, status="active", created_at=utcnow(),
                     private_jwk=_seal(settings, json.dumps(key.as_dict(private=True)).encode()))
    session.add(row)
    session.flush()
    return row


def active_key(session: Session, settings: Settings) -> SigningKey:
    """The key to sign with now; made on first need (the newest wins if two workers raced)."""
    row = session.scalars(select(SigningKey).where(SigningKey.status == "active")
                          .order_by(SigningKey.created_at.desc()).limit(1)).first()
    return row or _new_key(session, settings)


def private_key(settings: Settings, row: SigningKey) -> RSAKey:
    return RSAKey.import_key(json.loads(_open(settings, row.private_jwk)))


def sign(session: Session, settings: Settings, payload: dict[str, Any], typ: str) -> tuple[str, str]:
    """A JWS (compact) of `payload` with the active key, its kid in the header: (kid, token). For statements other
    than tokens (audit checkpoints), told apart from them by `typ`."""
    row = active_key(session, settings)
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    token = jws.serialize_compact({"alg": row.alg, "kid": row.kid, "typ": typ}, body, private_key(settings, row),
                                  algorithms=[row.alg])
    return row.kid, token


def genuine(session: Session, settings: Settings | None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every signing key the hub ever had, retired ones too, as {kid: public JWK}, and the kids refused. With the
    secret key, a row counts only if its sealed private key opens under it and matches its public key: a database
    writer can add a row, but not one sealed under a secret the database does not hold."""
    found: dict[str, dict[str, Any]] = {}
    refused: list[str] = []
    for row in session.scalars(select(SigningKey).order_by(SigningKey.created_at)):
        if settings is not None and settings.secret_key:
            try:
                held = private_key(settings, row).as_dict(private=False)
            except (InvalidTag, ValueError, KeyError, JoseError):
                refused.append(row.kid)
                continue
            if any(held.get(part) != row.public_jwk.get(part) for part in ("n", "e")):
                refused.append(row.kid)
                continue
        found[row.kid] = dict(row.public_jwk)
    return found, refused


def rotate(session: Session, settings: Settings) -> tuple[SigningKey, list[str]]:
    """A new active key; the old ones retire but stay published until what they signed has expired."""
    now = utcnow()
    retired = list(session.scalars(select(SigningKey.kid).where(SigningKey.status == "active")))
    session.execute(update(SigningKey).where(SigningKey.status == "active").values(status="retired", retired_at=now))
    row = _new_key(session, settings)
    return row, retired


def published(session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Public JWKs of the active key and of retired keys whose tokens may still be alive."""
    cutoff = (now or utcnow()) - PUBLISH_RETIRED_FOR
    rows = session.scalars(select(SigningKey).where(or_(SigningKey.status == "active", SigningKey.retired_at > cutoff))
                           .order_by(SigningKey.created_at.desc()))
    return [dict(row.public_jwk) for row in rows]


class KeyCache:
    """Public keys held in memory for verifying tokens; reloaded when a token names a kid we do not know.

    Per host, and safe so with several hosts: a key made or rotated on another host is a kid this one does not
    know, so it reloads at once; a key retired there stays published (PUBLISH_RETIRED_FOR) longer than this cache
    keeps what it read (`max_age`), so no host accepts a token another would refuse for its key."""

    def __init__(self, load: Callable[[], list[dict[str, Any]]], max_age: float = 300.0) -> None:
        self._load = load
        self._max_age = max_age
        self._keys: dict[str, dict[str, Any]] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        keys = {jwk["kid"]: jwk for jwk in self._load()}
        with self._lock:
            self._keys, self._loaded_at = keys, time.monotonic()

    def get(self, kid: str) -> KeySet | None:
        """Runs in a worker thread: it may read the database."""
        if time.monotonic() - self._loaded_at > self._max_age or kid not in self._keys:
            # A retired key leaves the set on reload, so its tokens stop verifying once it is unpublished.
            self._refresh()
        jwk = self._keys.get(kid)
        return KeySet.import_key_set({"keys": [jwk]}) if jwk else None
