"""TOTP (RFC 6238) as an optional second factor for office and leader accounts, with pyotp.

The secret is stored sealed with the node's secret key and shown once, as an otpauth:// URI, when it is made.
A code is accepted once: the time step it matched is remembered, so the same code cannot be replayed in its 30 s.
"""
from __future__ import annotations

import hmac
from datetime import datetime
from typing import Literal

import pyotp
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from common.models import User, UserTotp
from common.sealing import seal, unseal

ISSUER = "Lianfu"
PURPOSE = "totp secrets"
# One step either side of now: phones whose clocks are a little off still get in.
VALID_WINDOW = 1

Verdict = Literal["ok", "wrong", "replayed"]


class TotpError(Exception):
    """The account cannot have TOTP, or already has it."""


def may_use_totp(user: User) -> bool:
    return user.role == "office" or user.is_leader


def has_totp(session: Session, user_id: object) -> bool:
    return session.scalar(select(UserTotp.user_id).where(UserTotp.user_id == user_id)) is not None


def enable(session: Session, secret_key: str, user: User, now: datetime) -> str:
    """Give the account a new secret; the otpauth:// URI for the authenticator app, to be shown this once."""
    if not may_use_totp(user):
        raise TotpError(f"{user.username} is not an office or leader account")
    if has_totp(session, user.id):
        raise TotpError(f"{user.username} already has TOTP (disable it first to issue a new secret)")
    secret = pyotp.random_base32()
    session.add(UserTotp(user_id=user.id, secret=seal(secret_key, PURPOSE, secret.encode()), enabled_at=now))
    session.flush()
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def disable(session: Session, user: User) -> bool:
    return session.execute(delete(UserTotp).where(UserTotp.user_id == user.id)).rowcount > 0


def verify(session: Session, secret_key: str, user_id: object, code: str, now: datetime) -> Verdict:
    """Check a code and, when it is good, mark its time step used (atomically: two workers cannot both accept it)."""
    row = session.get(UserTotp, user_id)
    code = "".join(code.split())
    if row is None or len(code) != 6 or not code.isdigit():
        return "wrong"
    totp = pyotp.TOTP(unseal(secret_key, PURPOSE, row.secret).decode())
    current = totp.timecode(now)
    matched = [step for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1)
               if hmac.compare_digest(totp.generate_otp(step), code)]
    if not matched:
        return "wrong"
    step = max(matched)
    taken = session.execute(update(UserTotp).where(UserTotp.user_id == user_id,
                                                   or_(UserTotp.last_counter.is_(None), UserTotp.last_counter < step))
                            .values(last_counter=step).execution_options(synchronize_session=False))
    return "ok" if taken.rowcount == 1 else "replayed"


# --- enrolment from the account page: the secret is confirmed with a code before it is kept ---------------------

PENDING_PURPOSE = "totp enrolment"


def new_pending(secret_key: str, user: User) -> tuple[str, str, str]:
    """A fresh secret for `user` to scan: (secret, otpauth:// URI, sealed secret for the confirming form). Nothing is
    stored: the account has no second factor until a code from this secret is confirmed."""
    if not may_use_totp(user):
        raise TotpError(f"{user.username} is not an office or leader account")
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    # Bound to the account: a sealed secret from one person's page is worthless in another's.
    sealed = seal(secret_key, PENDING_PURPOSE, f"{user.id}:{secret}".encode())
    return secret, uri, sealed


def pending_secret(secret_key: str, user: User, sealed: str) -> str | None:
    try:
        owner, _, secret = unseal(secret_key, PENDING_PURPOSE, sealed).decode().partition(":")
    except Exception:  # a tampered or foreign value: no secret
        return None
    return secret if owner == str(user.id) and secret else None


def confirm(session: Session, secret_key: str, user: User, secret: str, code: str, now: datetime) -> bool:
    """Keep the secret as the account's second factor when `code` is a current code of it; the code's time step
    is marked used, so the same code cannot also log in."""
    if not may_use_totp(user) or has_totp(session, user.id):
        return False
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    matched = [step for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1)
               if hmac.compare_digest(totp.generate_otp(step), code)]
    if not matched:
        return False
    session.add(UserTotp(user_id=user.id, secret=seal(secret_key, PURPOSE, secret.encode()), enabled_at=now,
                         last_counter=max(matched)))
    session.flush()
    return True
