"""Accounts, web sessions, login throttling, second factors and login challenges."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, Synced


from sqlalchemy import BigInteger

from common.orm import utcnow





class User(Base, Synced):
    """Someone who logs in: role, node, unit for liaisons, leader flag, argon2 hash."""

    __tablename__ = "user_account"
    __table_args__ = (UniqueConstraint("username"), Index("ix_user_account_node_id", "node_id"))

    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(16))  # office / liaison / subcenter / enterprise
    unit_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("unit.id"), default=None)
    is_leader: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Kept at the hub for the office's list; not part of the directory a spoke receives.
    email: Mapped[str | None] = mapped_column(String(200), default=None)


class WebSession(Base):
    """A page session; the cookie holds a random token, the table only its sha256."""

    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    offline: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginThrottle(Base):
    """Failed logins of one account name or one client address, and the lock they earned.

    Kept in the database so that every worker of a hub sees the same count.
    """

    __tablename__ = "login_throttle"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)  # account / address
    # The account name as typed (lower-cased), known or not, or the client address.
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime | None] = mapped_column(default=None)
    # Locks earned in a row: each one lasts twice as long as the one before, up to a cap.
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class UserTotp(Base):
    """An account's TOTP second factor; kept beside the user row so it never travels with the synced users."""

    __tablename__ = "user_totp"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    # The base32 secret, encrypted with a key derived from the node's secret key.
    secret: Mapped[str] = mapped_column(Text)
    # The time step of the last code accepted: a code is good once, even within its 30 seconds.
    last_counter: Mapped[int | None] = mapped_column(BigInteger, default=None)
    enabled_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginChallenge(Base):
    """A login whose password was right and whose second factor is still owed; the cookie holds a random token,
    the table only its sha256. It is never a session: it only lets its holder enter the code, for a few minutes."""

    __tablename__ = "login_challenge"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), index=True)
    next_url: Mapped[str] = mapped_column(Text, default="/")
    address: Mapped[str] = mapped_column(String(64), default="")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AccountSetup(Base):
    """A one-time link where a person sets their password (a new account, or one the office reset); the link holds a
    random token, the table only its sha256. Issuing a new link removes the older ones of the account."""

    __tablename__ = "account_setup"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    issued_by: Mapped[str] = mapped_column(String(64), default="")
