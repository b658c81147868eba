"""Reaching people who are not looking at a page (Art. 18, 19): each person's inbox, the outbox of messages to
WeCom group robots and to mail, and the hub's scheduled jobs."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from common.orm import Base, Pushed, Synced, new_id, utcnow


class Notification(Base, Synced, Pushed):
    """One notice in one person's inbox, in Chinese as it was written. `node_id` is the person's node: a spoke
    holds the notices of its own people, so they read them offline; reading one (`read_at`) syncs back."""

    __tablename__ = "notification"
    __table_args__ = (
        # Each person's inbox, newest first.
        Index("ix_notification_user_id_id", "user_id", "id"),
        # The unread count in every page's header: only the unread notices, however many were read before.
        Index("ix_notification_unread_user_id", "user_id",
              postgresql_where=text("read_at IS NULL AND deleted_at IS NULL"),
              sqlite_where=text("read_at IS NULL AND deleted_at IS NULL")),
        # One notice per person for one event (an escalation run twice, a retried write, tells nobody twice).
        UniqueConstraint("event_key", "user_id", name="uq_notification_event_key_user_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column()
    # What happened, for filters and icons: case.dispatched, case.overdue, case.urged, bulletin.published, …
    kind: Mapped[str] = mapped_column(String(48))
    event_key: Mapped[str] = mapped_column(String(160))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    # Where the notice leads in the pages: a path such as /cases/{id}.
    link: Mapped[str] = mapped_column(String(300), default="")
    entity_type: Mapped[str | None] = mapped_column(String(32), default=None)
    entity_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    urgent: Mapped[bool] = mapped_column(default=False)
    read_at: Mapped[datetime | None] = mapped_column(default=None)


class Delivery(Base):
    """One message to send through one channel to one address: a WeCom group robot's webhook or a mailbox.

    Written in the transaction of the event that causes it, sent by the hub's scheduler, retried with backoff; the
    unique key keeps one event from reaching one address twice by one channel. Never synced: the hub sends."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("event_key", "channel", "target", name="uq_delivery_event_key_channel_target"),
        # The sender's queue: what is due, oldest first.
        Index("ix_delivery_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_key: Mapped[str] = mapped_column(String(160))
    channel: Mapped[str] = mapped_column(String(16))  # wecom / email
    # The webhook's address or the mailbox; for a person, whose it is (user_id) too.
    target: Mapped[str] = mapped_column(String(500))
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    kind: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(300))
    # Markdown for a robot, plain text for mail; the sender adds the link, made absolute with the hub's address.
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(300), default="")
    # pending -> sent; pending -> failed (retried until `attempts` runs out, then dead).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class JobRun(Base):
    """The hub's scheduled jobs as operators see them: each job's last run, its outcome and when it runs next."""

    __tablename__ = "job_run"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(default=None)
    last_finished_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # What the last run did, as the job told it ({"sent": 12, "failed": 1}, {"urged": 3}).
    last_result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    next_run_at: Mapped[datetime | None] = mapped_column(default=None)
    runs: Mapped[int] = mapped_column(Integer, default=0)
