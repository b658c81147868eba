"""Telling people: `notify` writes, in the transaction of the event that causes it, a notice in each person's inbox
and the messages to send to their mailboxes and to WeCom group robots (the `Delivery` outbox the hub's scheduler
sends). One event reaches one person, one mailbox, one robot once, however often it is told (the unique keys).

Only the hub notifies: every event that tells someone happens there (a dispatch, an escalation, a decision, a
warning published), and only the hub sends. A spoke's people get their notices by sync and read them offline.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from common.clock import clock
from common.models import Node, Unit, User
from common.notify.models import Delivery, Notification
from common.orm import new_id, utcnow

CHANNELS = ("inbox", "email", "wecom")
# A session's info key: False where writes are not final (a spoke, set by sync.capture), so nothing is told there.
TELLS = "tells"
HUB_NODE = "hub"

# What a group message may never carry (Art. 19's WeChat group is seen by many): ID numbers and mobile numbers are
# masked even if a caller's text held one by mistake.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


@dataclass(frozen=True)
class Notice:
    """What to tell, already in Chinese. `body` is for a person's own inbox and mailbox; `group_text` (markdown,
    without personal data) for robots, None to post nothing to groups. `link` is a path in the pages."""

    kind: str
    title: str
    body: str = ""
    link: str = ""
    entity_type: str | None = None
    entity_id: uuid.UUID | None = None
    urgent: bool = False
    group_text: str | None = None


@dataclass(frozen=True)
class Audience:
    """Whom to tell: people by id; the liaison officers of units (and the units' robots); the accounts of nodes (and
    the nodes' robots); the office (and the hub's robot); the center's leaders; the leaders of units."""

    users: tuple[uuid.UUID, ...] = ()
    units: tuple[str, ...] = ()
    unit_leaders: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    office: bool = False
    leaders: bool = False
    exclude: tuple[uuid.UUID, ...] = field(default=())  # who caused the event: not told of their own act


def scrub(text: str) -> str:
    """`text` with any ID number or mobile number in it masked."""
    return _MOBILE.sub(r"\1****\2", _ID_NUMBER.sub(r"\1********\2", text))


def recipients(session: Session, audience: Audience) -> list[User]:
    """The active accounts an audience names."""
    who = []
    if audience.users:
        who.append(User.id.in_(list(audience.users)))
    if audience.units:
        who.append(and_(User.role == "liaison", User.unit_id.in_(list(audience.units))))
    if audience.unit_leaders:
        who.append(and_(User.unit_id.in_(list(audience.unit_leaders)), User.is_leader.is_(True)))
    if audience.nodes:
        who.append(and_(User.node_id.in_(list(audience.nodes)), User.role.in_(("subcenter", "enterprise"))))
    if audience.office:
        who.append(User.role == "office")
    if audience.leaders:
        who.append(and_(User.role == "office", User.is_leader.is_(True)))
    if not who:
        return []
    stmt = select(User).where(User.active.is_(True), or_(*who))
    if audience.exclude:
        stmt = stmt.where(User.id.not_in(list(audience.exclude)))
    return list(session.scalars(stmt.order_by(User.username)))


def robots(session: Session, audience: Audience) -> list[str]:
    """The WeCom group robots an audience names: its units' and nodes' (the hub's for the office)."""
    urls: list[str] = []
    units = sorted(set(audience.units) | set(audience.unit_leaders))
    if units:
        urls += session.scalars(select(Unit.webhook_url).where(Unit.id.in_(units), Unit.webhook_url.is_not(None)))
    nodes = sorted(set(audience.nodes) | ({HUB_NODE} if audience.office or audience.leaders else set()))
    if nodes:
        urls += session.scalars(select(Node.webhook_url).where(Node.id.in_(nodes), Node.webhook_url.is_not(None)))
    return sorted({u for u in urls if u})


def notify(session: Session, event_key: str, notice: Notice, audience: Audience,
           channels: Iterable[str] = CHANNELS) -> int:
    """Tell `audience` of `notice` through `channels`, in the session's transaction; the number of people told in
    their inbox. `event_key` names the event (e.g. "case:<id>:dispatched:<event id>"): telling it again does
    nothing. Does nothing at a spoke."""
    if not session.info.get(TELLS, True):
        return 0
    wanted = set(channels)
    people = recipients(session, audience)
    now = utcnow()
    told = 0
    if "inbox" in wanted and people:
        rows = [{"id": new_id(), "node_id": user.node_id or HUB_NODE, "user_id": user.id, "kind": notice.kind,
                 "event_key": event_key[:160], "title": notice.title[:300], "body": notice.body, "link": notice.link[:300],
                 "entity_type": notice.entity_type, "entity_id": notice.entity_id, "urgent": notice.urgent,
                 "read_at": None, "field_versions": {}, "version": clock.now(), "created_at": now, "updated_at": now,
                 "deleted_at": None, "pushed_by": None, "pushed_version": None} for user in people]
        told = _insert_new(session, Notification, rows, ["event_key", "user_id"])
    deliveries: list[dict[str, Any]] = []
    if "email" in wanted:
        for user in people:
            if user.email:
                deliveries.append(_delivery(event_key, "email", user.email, user.id, notice, notice.body or notice.title))
    if "wecom" in wanted and notice.group_text is not None:
        for url in robots(session, audience):
            deliveries.append(_delivery(event_key, "wecom", url, None, notice, scrub(notice.group_text)))
    if deliveries:
        _insert_new(session, Delivery, deliveries, ["event_key", "channel", "target"])
    return told


def _delivery(event_key: str, channel: str, target: str, user_id: uuid.UUID | None, notice: Notice,
              body: str) -> dict[str, Any]:
    now = utcnow()
    return {"id": new_id(), "event_key": event_key[:160], "channel": channel, "target": target[:500],
            "user_id": user_id, "kind": notice.kind,
            "subject": (notice.title if channel == "email" else scrub(notice.title))[:300], "body": body,
            "link": notice.link[:300], "status": "pending", "attempts": 0, "next_attempt_at": now,
            "last_error": None, "created_at": now, "sent_at": None}


def _insert_new(session: Session, model: type, rows: list[dict[str, Any]], keys: list[str]) -> int:
    """Insert the rows whose unique key is not there yet; how many were new."""
    dialect = session.get_bind().dialect.name
    build = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__
    stmt = build(table).on_conflict_do_nothing(index_elements=keys).returning(table.c.id)
    return len(session.execute(stmt, rows).all())  # RETURNING names only the rows inserted


def unread_count(session: Session, user_id: uuid.UUID) -> int:
    """How many notices `user_id` has not read: the count in the page header."""
    return int(session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None), Notification.deleted_at.is_(None))) or 0)


