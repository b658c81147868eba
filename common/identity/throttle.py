"""Login throttling per account name and per client address, with locks that grow while the failures go on.

An account name counts whether or not such an account exists, so a lock tells nothing about which accounts do.
The counters live in the database, so several hub workers share them; each login attempt locks its two rows
(PostgreSQL row locks, SQLite's write lock) for its whole transaction, so parallel guesses cannot slip past a count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from common.models import LoginThrottle

ACCOUNT = "account"
ADDRESS = "address"
# Searches of people (personal data) by one account: a burst is someone walking the register, not a person at work.
SEARCH = "search"
# Personal data shown in full by one account: each is asked for with a reason; many in an hour is not casework.
REVEAL = "reveal"


@dataclass(frozen=True)
class Rule:
    """`limit` failures within `window` earn a lock of `first_lock`, doubling with each lock in a row up to `max_lock`."""

    limit: int
    window: timedelta
    first_lock: timedelta
    max_lock: timedelta
    # A quiet spell this long forgets earlier locks: the next lock is a first one again.
    forget_after: timedelta


RULES = {
    ACCOUNT: Rule(5, timedelta(minutes=15), timedelta(minutes=15), timedelta(hours=4), timedelta(hours=24)),
    ADDRESS: Rule(20, timedelta(minutes=15), timedelta(minutes=15), timedelta(hours=4), timedelta(hours=24)),
    SEARCH: Rule(60, timedelta(minutes=10), timedelta(minutes=10), timedelta(hours=4), timedelta(hours=24)),
    REVEAL: Rule(20, timedelta(hours=1), timedelta(hours=1), timedelta(hours=24), timedelta(hours=24)),
}
# Rows untouched this long (and not locked) are dropped; unknown names guessed by a scanner do not pile up.
KEEP_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class Lock:
    scope: str
    until: datetime

    def retry_after(self, now: datetime) -> int:
        """Whole seconds to wait, at least one (the Retry-After header)."""
        return max(1, math.ceil((self.until - now).total_seconds()))


def account_key(username: str) -> str:
    return username.strip().lower()[:128]


def address_key(address: str) -> str:
    return (address or "unknown")[:128]


def _keys(username: str, address: str) -> list[tuple[str, str]]:
    # Always in this order, so two attempts that share one row never wait for each other crosswise.
    return [(ACCOUNT, account_key(username)), (ADDRESS, address_key(address))]


def _rows(session: Session, username: str, address: str, now: datetime) -> dict[str, LoginThrottle]:
    """The attempt's two counters, made if missing and locked until the transaction ends."""
    keys = _keys(username, address)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect.startswith("postgres") else sqlite.insert
    for scope, key in keys:
        # Two workers may make the same row at once: the loser's insert quietly does nothing.
        session.execute(insert(LoginThrottle).values(scope=scope, key=key, failures=0, lockouts=0, updated_at=now)
                        .on_conflict_do_nothing(index_elements=["scope", "key"]))
    rows = session.scalars(select(LoginThrottle).where(tuple_(LoginThrottle.scope, LoginThrottle.key).in_(keys))
                           .order_by(LoginThrottle.scope, LoginThrottle.key)
                           .with_for_update().execution_options(populate_existing=True)).all()
    return {row.scope: row for row in rows}


def check(session: Session, username: str, address: str, now: datetime) -> Lock | None:
    """The lock that refuses this attempt, if any (the later-ending of the account's and the address's)."""
    rows = _rows(session, username, address, now)
    locks = [Lock(scope, row.locked_until) for scope, row in rows.items() if row.locked_until and row.locked_until > now]
    return max(locks, key=lambda lock: lock.until) if locks else None


def record_failure(session: Session, username: str, address: str, now: datetime) -> list[Lock]:
    """Count one failed attempt (wrong password or code, unknown account); the locks it just started."""
    started = []
    for scope, row in _rows(session, username, address, now).items():
        if _count(row, RULES[scope], now, RULES[scope].limit):
            started.append(Lock(scope, row.locked_until))
    # Tidy up a few stale rows; skipping those another attempt holds, so two attempts never wait on each other.
    stale = (select(LoginThrottle.scope, LoginThrottle.key)
             .where(LoginThrottle.updated_at < now - KEEP_FOR,
                    LoginThrottle.locked_until.is_(None) | (LoginThrottle.locked_until < now))
             .limit(100).with_for_update(skip_locked=True))
    session.execute(delete(LoginThrottle).where(tuple_(LoginThrottle.scope, LoginThrottle.key).in_(stale))
                    .execution_options(synchronize_session=False))
    return started


def record_success(session: Session, username: str) -> None:
    """A good login clears its account's count and lock history; the address keeps its count (one good account
    must not let an address guess at the others)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.scope == ACCOUNT,
                                                LoginThrottle.key == account_key(username)))


def count_search(session: Session, account: str, now: datetime) -> tuple[Lock | None, bool]:
    """Count one search of people by `account` (see count_use)."""
    return count_use(session, SEARCH, account, now)


def count_use(session: Session, scope: str, account: str, now: datetime) -> tuple[Lock | None, bool]:
    """Count one use of a rate-limited act (`scope`: SEARCH, REVEAL) by `account`: the lock that refuses it (if any),
    and whether this very use started that lock (the burst to record as a security event, once)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect.startswith("postgres") else sqlite.insert
    key = account[:128]
    session.execute(insert(LoginThrottle).values(scope=scope, key=key, failures=0, lockouts=0, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["scope", "key"]))
    row = session.scalars(select(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == key)
                          .with_for_update().execution_options(populate_existing=True)).one()
    if row.locked_until and row.locked_until > now:
        return Lock(scope, row.locked_until), False
    # The limit's own use still goes through: the one after it is the burst.
    if _count(row, RULES[scope], now, RULES[scope].limit + 1):
        return Lock(scope, row.locked_until), True
    return None, False


def _count(row: LoginThrottle, rule: Rule, now: datetime, lock_at: int) -> bool:
    """One more in the row's window; at `lock_at` within it, a lock (growing with each in a row). Whether it locked."""
    if row.lockouts and row.updated_at < now - rule.forget_after:
        row.lockouts = 0
    if row.window_started_at is None or row.window_started_at <= now - rule.window:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    row.updated_at = now
    if row.failures < lock_at:
        return False
    row.lockouts += 1
    row.locked_until = now + min(rule.first_lock * 2 ** min(row.lockouts - 1, 20), rule.max_lock)
    row.failures, row.window_started_at = 0, None
    return True
