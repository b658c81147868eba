"""Sending the outbox: what is due goes to WeCom group robots and mailboxes, each failure retried with backoff.

Never twice, as far as a network allows: a batch is taken in its own short transaction (on PostgreSQL with FOR UPDATE
SKIP LOCKED, so two senders never take one row) and each row taken is leased at once — its next attempt moved
`LEASE` ahead — and committed before anything is sent. Another sender then sees nothing due in it; this one sends and
records each outcome. A sender that dies between sending and recording leaves its rows to come due again when the
lease runs out: at worst a message is sent once more, never lost (at least once). Holding the row locks across the
sending instead would keep a transaction open across network calls for the same guarantee, and a crash would retry
in the same way. The unique key (event, channel, target) stops an event from being queued twice to one address.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from common.db import Database
from common.notify.models import Delivery
from common.settings import Settings

log = logging.getLogger("lianfu.notify")

BATCH = 200
LEASE = timedelta(minutes=2)  # a taken row is due again after this if its sender never says how it went
FIRST_RETRY = 5.0  # seconds; doubled after each failure …
MAX_RETRY = 1800.0  # … up to half an hour
MAX_ATTEMPTS = 10  # then the row is dead: the office sees it on /admin/deliveries and may retry it by hand
BUDGET = 20.0  # seconds one run keeps taking batches while there is more due
HTTP_TIMEOUT = 5.0
SMTP_TIMEOUT = 10.0
WECOM_LIMIT = 4096  # bytes of a robot's markdown content (企业微信群机器人: markdown.content ≤ 4096 bytes, UTF-8)
LINK_TEXT = "在平台中查看"
MAIL_NOT_CONFIGURED = "mail not configured (LIANFU_SMTP_URL)"


@dataclass
class Outcome:
    """How one row went: sent, or the reason it was not."""
    id: uuid.UUID
    attempts: int
    error: str | None = None


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sent": self.sent, "failed": self.failed, "dead": self.dead}
        if self.errors:
            out["last_error"] = self.errors[-1][:200]
        return out


def backoff(attempts: int) -> timedelta:
    """The wait before the next try after `attempts` failed ones: 5 s, 10 s, 20 s, … at most 30 min."""
    return timedelta(seconds=min(MAX_RETRY, FIRST_RETRY * 2 ** max(0, attempts - 1)))


def run(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    """Send what is due at `now`, batch after batch while there is more (within `BUDGET` seconds)."""
    tally = Tally()
    started = time.monotonic()
    with Channels(settings) as channels:
        while time.monotonic() - started < BUDGET:
            taken = take_due(db, now, BATCH)
            if not taken:
                break
            tally.batches += 1
            outcomes = [channels.send(row) for row in taken]
            record(db, outcomes, now, tally)
            if len(taken) < BATCH:
                break
    return tally.summary()


def take_due(db: Database, now: datetime, limit: int) -> list[Delivery]:
    """Up to `limit` due rows, leased to this sender (committed before they are sent)."""
    with db.transaction() as session:
        stmt = (select(Delivery).where(Delivery.status.in_(("pending", "failed")), Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at).limit(limit))
        if db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(session.scalars(stmt))
        if rows:
            session.execute(update(Delivery).where(Delivery.id.in_([r.id for r in rows]))
                            .values(next_attempt_at=now + LEASE).execution_options(synchronize_session=False))
        session.expunge_all()
    return rows


def record(db: Database, outcomes: list[Outcome], now: datetime, tally: Tally) -> None:
    """Each outcome written: sent, failed with its next attempt, or dead once the attempts run out."""
    sent = [o.id for o in outcomes if o.error is None]
    with db.transaction() as session:
        if sent:
            session.execute(update(Delivery).where(Delivery.id.in_(sent)).values(
                status="sent", sent_at=now, attempts=Delivery.attempts + 1, last_error=None)
                .execution_options(synchronize_session=False))
            tally.sent += len(sent)
        for o in outcomes:
            if o.error is None:
                continue
            attempts = o.attempts + 1
            dead = attempts >= MAX_ATTEMPTS
            session.execute(update(Delivery).where(Delivery.id == o.id).values(
                status="dead" if dead else "failed", attempts=attempts, last_error=o.error[:500],
                next_attempt_at=now + backoff(attempts)).execution_options(synchronize_session=False))
            tally.dead += dead
            tally.failed += not dead
            tally.errors.append(o.error)


def retry_now(session: Session, delivery_id: uuid.UUID, now: datetime) -> bool:
    """A failed or dead row due again at once (the office's "retry now"), its attempts counted afresh; False if it
    is not failed or dead (sent meanwhile, or no such row)."""
    result = session.execute(update(Delivery).where(
        Delivery.id == delivery_id, or_(Delivery.status == "failed", Delivery.status == "dead")).values(
        status="failed", next_attempt_at=now, attempts=0).execution_options(synchronize_session=False))
    return bool(result.rowcount)


# --- the channels ---------------------------------------------------------------------------------------------


def absolute_link(settings: Settings, link: str) -> str:
    if not link or not settings.base_url:
        return ""
    return settings.base_url.rstrip("/") + link if link.startswith("/") else link


def fit_bytes(text: str, limit: int) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, never inside a character, an ellipsis marking the cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    cut = max(0, limit - len("…".encode("utf-8")))
    return data[:cut].decode("utf-8", errors="ignore") + "…"


def wecom_content(settings: Settings, row: Delivery) -> str:
    """The robot's markdown: the subject in bold, the text, and a link into the pages; the text cut to fit."""
    head = f"**{row.subject}**\n"
    url = absolute_link(settings, row.link)
    tail = f"\n[{LINK_TEXT}]({url})" if url else ""
    room = WECOM_LIMIT - len(head.encode("utf-8")) - len(tail.encode("utf-8"))
    return fit_bytes(head + fit_bytes(row.body, max(0, room)) + tail, WECOM_LIMIT)


def mail_message(settings: Settings, row: Delivery) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.notify.mail_from or "lianfu@localhost"
    message["To"] = row.target
    message["Subject"] = row.subject
    message["Message-ID"] = make_msgid(domain="lianfu")
    message["X-Lianfu-Event"] = row.event_key
    url = absolute_link(settings, row.link)
    message.set_content(row.body + (f"\n\n{LINK_TEXT}：{url}\n" if url else "\n"))
    return message


class Channels:
    """The connections of one run: one HTTP client for every robot, one SMTP session opened when the first mail goes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http: httpx.Client | None = None
        self.smtp: smtplib.SMTP | None = None
        self.smtp_error: str | None = None  # the server could not be reached in this run: the rest wait for the next

    def __enter__(self) -> "Channels":
        return self

    def __exit__(self, *_: object) -> None:
        if self.http is not None:
            self.http.close()
        self._close_smtp()

    def send(self, row: Delivery) -> Outcome:
        try:
            if row.channel == "wecom":
                error = self._wecom(row)
            elif row.channel == "email":
                error = self._mail(row)
            else:
                error = f"unknown channel {row.channel}"
        except Exception as exc:  # noqa: BLE001 - whatever a channel raises is this row's failure, not the run's
            error = f"{type(exc).__name__}: {exc}"
        if error:
            log.info("delivery %s (%s) failed: %s", row.id, row.channel, error)
        return Outcome(row.id, row.attempts, error)

    def _wecom(self, row: Delivery) -> str | None:
        if self.http is None:
            self.http = httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False)
        payload = {"msgtype": "markdown", "markdown": {"content": wecom_content(self.settings, row)}}
        try:
            response = self.http.post(row.target, json=payload)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" or type(exc).__name__
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        try:
            answer = response.json()
        except ValueError:
            return "the robot's answer is not JSON"
        if not isinstance(answer, dict) or answer.get("errcode") != 0:
            got = answer if not isinstance(answer, dict) else f"errcode {answer.get('errcode')}: {answer.get('errmsg', '')}"
            return f"refused: {got}"[:500]
        return None

    def _mail(self, row: Delivery) -> str | None:
        if not self.settings.notify.smtp_url:
            return MAIL_NOT_CONFIGURED
        if self.smtp_error:
            return self.smtp_error
        if self.smtp is None:
            try:
                self.smtp = open_smtp(self.settings.notify.smtp_url)
            except (smtplib.SMTPException, OSError, ValueError) as exc:
                self.smtp_error = f"{type(exc).__name__}: {exc}"
                return self.smtp_error
        try:
            self.smtp.send_message(mail_message(self.settings, row))
        except (smtplib.SMTPServerDisconnected, OSError):
            self._close_smtp()  # the next mail opens a new session
            raise
        return None

    def _close_smtp(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


def open_smtp(url: str) -> smtplib.SMTP:
    """An SMTP session from LIANFU_SMTP_URL: smtps:// over TLS from the start, smtp:// with STARTTLS when the server
    offers it; logged in with the URL's user and password (percent-decoded) when it has them."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("LIANFU_SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
    context = ssl.create_default_context()
    if parts.scheme == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=SMTP_TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=SMTP_TIMEOUT)
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
    if parts.username:
        smtp.login(unquote(parts.username), unquote(parts.password or ""))
    return smtp
