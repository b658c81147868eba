"""One-time links where a person sets their own password: issued by the office for a new or reset account, good
for a few days and once; the link holds a random token, the database only its sha256."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from common.audit import trail as audit
from common.identity import accounts
from common.identity.passwords import check_password_policy, hash_password
from common.models import AccountSetup, User
from common.policy import Principal
from common.service import audit_write

SETUP_TTL = timedelta(hours=72)
PATH = "/setup/"


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def setup_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{PATH}{token}"


def issue(session: Session, p: Principal, user: User, now: datetime, reset: bool = False) -> str:
    """A new link for the account (its older links stop working); `reset` also ends its password, sessions and
    tokens, so that only the person with the new link gets in. Returns the token."""
    token = secrets.token_urlsafe(32)
    session.execute(delete(AccountSetup).where(AccountSetup.user_id == user.id))
    session.add(AccountSetup(id=_sha256(token), user_id=user.id, created_at=now, expires_at=now + SETUP_TTL,
                             issued_by=p.username[:64]))
    detail: dict[str, object] = {"username": user.username, "expires_at": (now + SETUP_TTL).isoformat()}
    if reset:
        user.password_hash = accounts.NO_PASSWORD
        session.flush()
        detail.update(reset=True, **accounts.end_access(session, user))
    session.flush()
    audit_write(session, p, "account.setup_issued", "user", user.id, detail)
    return token


@dataclass(frozen=True)
class Found:
    link: AccountSetup
    user: User


def find(session: Session, token: str, now: datetime) -> Found | None:
    """The account a link is for, while the link is unused, fresh and the account active."""
    if not token or len(token) > 200:
        return None
    row = session.execute(select(AccountSetup, User).join(User, User.id == AccountSetup.user_id)
                          .where(AccountSetup.id == _sha256(token))).first()
    if row is None:
        return None
    link, user = row
    if link.used_at is not None or link.expires_at <= now or not user.active or user.deleted_at is not None:
        return None
    return Found(link, user)


def refuse(session: Session, node_id: str, token: str, address: str, now: datetime) -> None:
    """A security event: a link presented that is unknown, used, expired or for a disabled account."""
    row = session.execute(select(AccountSetup, User).join(User, User.id == AccountSetup.user_id)
                          .where(AccountSetup.id == _sha256(token or ""))).first() if token and len(token) <= 200 else None
    reason = "unknown"
    if row is not None:
        link, user = row
        reason = ("used" if link.used_at is not None else "expired" if link.expires_at <= now
                  else "account disabled")
    audit.record(session, node_id, "security.setup_refused", actor=(row[1].username if row else "")[:64],
                 actor_id=row[1].id if row else None, entity_type="user", entity_id=row[1].id if row else "",
                 address=address[:64], detail={"reason": reason})


def use(session: Session, node_id: str, token: str, password: str, address: str, now: datetime) -> User | None:
    """Set the password through a link (the password policy raises InvalidField); None when the link is no good.
    The link is spent in the same transaction, so a second use finds it used."""
    found = find(session, token, now)
    if found is None:
        refuse(session, node_id, token, address, now)
        return None
    check_password_policy(password, found.user.username)
    # Spent atomically: of two requests racing with one link, only one sets the password.
    spent = session.execute(update(AccountSetup).where(AccountSetup.id == found.link.id, AccountSetup.used_at.is_(None))
                            .values(used_at=now).execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        refuse(session, node_id, token, address, now)
        return None
    found.user.password_hash = hash_password(password)
    session.flush()
    audit.record(session, node_id, "account.setup_used", actor=found.user.username, actor_id=found.user.id,
                 entity_type="user", entity_id=found.user.id, address=address[:64])
    return found.user
