"""The login flow without HTTP: throttling, the password, the TOTP step owed by some accounts, and their audit.

Each step runs inside the caller's write transaction; the caller opens the page session when a step says so.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from common.audit import trail as audit
from common.federation import nodestate
from common.identity import throttle
from common.identity import totp
from common.models import LoginChallenge, User
from common.identity.passwords import verify_password

# How long the code may be entered after the password, and how many wrong codes before starting over.
CHALLENGE_TTL = timedelta(minutes=5)
CODE_TRIES = 3

Status = Literal["ok", "totp", "refused", "throttled", "expired", "halted"]


@dataclass(frozen=True)
class Outcome:
    """`ok`: open a session for `user`; `totp`: the code is owed, `challenge` goes in a short-lived cookie;
    `refused`: wrong password or code; `throttled`: wait `retry_after` seconds; `expired`: start the login over;
    `halted`: the password was right but the person's node (`node_status`) is suspended or retired."""

    status: Status
    user: User | None = None
    challenge: str | None = None
    retry_after: int = 0
    next_url: str = "/"
    node_status: str | None = None


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def check_password(session: Session, username: str, password: str, only_node: str | None = None) -> User | None:
    """The active account with this name and password; an unknown name costs the same time as a known one.

    `only_node` limits it to one node's accounts (a spoke's offline login: its own people only).
    """
    stmt = select(User).where(User.username == username, User.deleted_at.is_(None))
    if only_node is not None:
        stmt = stmt.where(User.node_id == only_node)
    user = session.scalars(stmt).first()
    ok = verify_password(user.password_hash if user else None, password) and user is not None and user.active
    return user if ok else None


def password_step(session: Session, node_id: str, username: str, password: str, address: str, next_url: str,
                  now: datetime, offline: bool = False) -> Outcome:
    """Check a password against this database; `offline` is a spoke's own login while the hub is unreachable."""
    lock = throttle.check(session, username, address, now)
    if lock is not None:
        # Checked before the password: while locked, even the right one is refused, and the answer is the same
        # for an account that does not exist.
        return _throttled(session, node_id, username, address, lock, now, "password")
    user = check_password(session, username, password, only_node=node_id if offline else None)
    if user is None:
        audit.record(session, node_id, "login.fail", actor=username[:64], entity_type="user", address=address,
                     detail={"offline": True} if offline else None)
        _count_failure(session, node_id, username, address, now)
        return Outcome("refused")
    halted = _node_halted(session, node_id, user, address, "password", offline)
    if halted is not None:
        return halted
    if totp.has_totp(session, user.id):
        # Not a session yet, and the account's failure count stays until the code is right: knowing the
        # password must not buy unlimited guesses at the code.
        token = secrets.token_urlsafe(32)
        session.execute(delete(LoginChallenge).where(LoginChallenge.expires_at < now))
        session.add(LoginChallenge(id=_sha256(token), user_id=user.id, next_url=next_url, address=address[:64],
                                   created_at=now, expires_at=now + CHALLENGE_TTL))
        audit.record(session, node_id, "login.totp_required", actor=user.username, actor_id=user.id,
                     entity_type="user", entity_id=user.id, address=address)
        return Outcome("totp", challenge=token, next_url=next_url)
    throttle.record_success(session, username)
    audit.record(session, node_id, "login.offline" if offline else "login.ok", actor=user.username, actor_id=user.id, entity_type="user",
                 entity_id=user.id, address=address)
    return Outcome("ok", user=user, next_url=next_url)


def pending(session: Session, token: str | None, now: datetime) -> tuple[LoginChallenge, User] | None:
    """The half-finished login a challenge cookie stands for, while it is fresh and its account still active."""
    if not token:
        return None
    row = session.execute(
        select(LoginChallenge, User).join(User, User.id == LoginChallenge.user_id)
        .where(LoginChallenge.id == _sha256(token), LoginChallenge.expires_at > now, User.active.is_(True),
               User.deleted_at.is_(None))
    ).first()
    return (row[0], row[1]) if row else None


def totp_step(session: Session, node_id: str, secret_key: str, token: str | None, code: str, address: str,
              now: datetime) -> Outcome:
    found = pending(session, token, now)
    if found is None:
        return Outcome("expired")
    challenge, user = found
    lock = throttle.check(session, user.username, address, now)
    if lock is not None:
        return _throttled(session, node_id, user.username, address, lock, now, "totp")
    verdict = totp.verify(session, secret_key, user.id, code, now)
    if verdict == "ok":
        session.delete(challenge)
        halted = _node_halted(session, node_id, user, address, "totp")
        if halted is not None:
            return halted  # suspended between the two steps
        throttle.record_success(session, user.username)
        audit.record(session, node_id, "login.ok", actor=user.username, actor_id=user.id, entity_type="user",
                     entity_id=user.id, detail={"second_factor": "totp"}, address=address)
        return Outcome("ok", user=user, next_url=challenge.next_url)
    audit.record(session, node_id, "login.totp_fail", actor=user.username, actor_id=user.id, entity_type="user",
                 entity_id=user.id, detail={"reason": verdict}, address=address)
    _count_failure(session, node_id, user.username, address, now)
    challenge.failures += 1
    if challenge.failures >= CODE_TRIES:
        session.delete(challenge)
    return Outcome("refused", next_url=challenge.next_url)


def _node_halted(session: Session, node_id: str, user: User, address: str, step: str,
                 offline: bool = False) -> Outcome | None:
    # Asked only once the password is right: a stranger learns nothing of a node's state, nor whether a name exists.
    # Not a failure either: the person is who they say, so the account's count stays as it is.
    status = nodestate.halt_of(session, user.node_id)
    if status is None:
        return None
    audit.record(session, node_id, "login.refused_node", actor=user.username, actor_id=user.id, entity_type="user",
                 entity_id=user.id, address=address,
                 detail={"node": user.node_id, "status": status, "step": step,
                         **({"offline": True} if offline else {})})
    return Outcome("halted", node_status=status)


def _throttled(session: Session, node_id: str, username: str, address: str, lock: throttle.Lock, now: datetime,
               step: str) -> Outcome:
    seconds = lock.retry_after(now)
    audit.record(session, node_id, "login.throttled", actor=username[:64], entity_type="user", address=address,
                 detail={"scope": lock.scope, "retry_after": seconds, "step": step})
    return Outcome("throttled", retry_after=seconds)


def _count_failure(session: Session, node_id: str, username: str, address: str, now: datetime) -> None:
    for lock in throttle.record_failure(session, username, address, now):
        audit.record(session, node_id, "login.locked", actor=username[:64], entity_type="user", address=address,
                     detail={"scope": lock.scope, "until": lock.until.isoformat()})
