"""A person's inbox, on the hub and on their spoke alike: their own notices, newest first, and marking them read.

The notices are written by the hub (common/notify/service.py); here they are only read and marked read, through the
ORM, so that a read at a spoke is captured in its outbox and syncs back to the hub.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from common import policy
from common.models import Notification
from common.orm import utcnow
from common.policy import Principal


def inbox(p: Principal, unread: bool = False) -> Select[Any]:
    """`p`'s own notices, newest first (ids are time-ordered); `unread`: only those not read yet."""
    stmt = policy.scoped(Notification, p)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    return stmt.order_by(Notification.id.desc())


def mark_read(session: Session, p: Principal, notification_id: uuid.UUID) -> Notification:
    """Mark one of `p`'s own notices read (once: a second read keeps the first time); another's is NotFound."""
    notice = policy.get_visible(session, Notification, notification_id, p)
    if notice.read_at is None:
        notice.read_at = utcnow()
    return notice


def mark_all_read(session: Session, p: Principal) -> int:
    """Mark every unread notice of `p` read; how many there were."""
    now = utcnow()
    notices = session.scalars(inbox(p, unread=True)).all()
    for notice in notices:
        notice.read_at = now
    return len(notices)


def safe_link(link: str | None) -> str:
    """Where a notice leads: a path of these pages only (never another site, whatever the row says)."""
    link = (link or "").strip()
    if not link.startswith("/") or link.startswith("//") or "\\" in link or any(ord(c) < 32 for c in link):
        return "/notifications"
    return link


def notification_out(notice: Notification) -> dict[str, Any]:
    return {
        "id": str(notice.id),
        "kind": notice.kind,
        "title": notice.title,
        "body": notice.body,
        "link": notice.link,
        "entity_type": notice.entity_type,
        "entity_id": str(notice.entity_id) if notice.entity_id is not None else None,
        "urgent": notice.urgent,
        "read": notice.read_at is not None,
        "read_at": notice.read_at.isoformat() if notice.read_at else None,
        "created_at": notice.created_at.isoformat() if notice.created_at else None,
    }
