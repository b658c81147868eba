"""Small secrets kept encrypted at rest, with a key derived per purpose from the node's secret key."""
from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def _cipher(secret_key: str, purpose: str) -> AESGCM:
    # Every worker of a node shares the secret key; each purpose gets a key of its own from it.
    return AESGCM(hashlib.sha256(b"lianfu " + purpose.encode() + b"\0" + secret_key.encode()).digest())


def seal(secret_key: str, purpose: str, plaintext: bytes) -> str:
    nonce = os.urandom(12)
    sealed = _cipher(secret_key, purpose).encrypt(nonce, plaintext, purpose.encode())
    return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(secret_key: str, purpose: str, sealed: str) -> bytes:
    """Raises cryptography's InvalidTag when the secret key or the purpose is not the one it was sealed with."""
    raw = base64.urlsafe_b64decode(sealed.removeprefix("v1:"))
    return _cipher(secret_key, purpose).decrypt(raw[:12], raw[12:], purpose.encode())
