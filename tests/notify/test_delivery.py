"""The sender: messages queued by `notify` reach a real robot and a real mailbox; a receiver away for a while loses
nothing and gets nothing twice; failures back off and end dead; two senders never take one row."""
from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import select, update

from common.db import Database
from common.models import Delivery, Unit, User
from common.notify import sender
from common.notify.service import Audience, Notice, notify
from common.settings import NotifySettings, Settings
from hub.jobs import JOBS, run_job
from tests.notify_support import Mailbox, Robot

UNIT = "criminal-investigation"
BASE = "https://lianfu.example.test"


@pytest.fixture
def robot() -> Iterator[Robot]:
    with Robot() as r:
        yield r


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as m:
        yield m


@pytest.fixture
def hub(settings: Settings, mailbox: Mailbox) -> Settings:
    return replace(settings, base_url=BASE,
                   notify=NotifySettings(smtp_url=mailbox.url(), mail_from="lianfu@hub.example.test"))


def wire(db: Database, robot: Robot) -> None:
    with db.transaction() as session:
        session.execute(update(Unit).where(Unit.id == UNIT).values(webhook_url=robot.url()))
        session.execute(update(User).where(User.username == "liaison_xz").values(email="xz@example.test"))


def tell(db: Database, n: int, marker: str = "事件") -> list[str]:
    keys = []
    for i in range(n):
        key = f"test:{marker}:{i}"
        notice = Notice(kind="case.dispatched", title=f"新派单 {marker}-{i}", body=f"请处理 {marker}-{i}。",
                        link=f"/cases/{uuid.uuid4()}", group_text=f"{marker}-{i} 已派至刑侦大队")
        with db.transaction() as session:
            notify(session, key, notice, Audience(units=(UNIT,)))
        keys.append(key)
    return keys


def rows(db: Database) -> list[Delivery]:
    with db.reads() as session:
        found = list(session.scalars(select(Delivery).order_by(Delivery.created_at)))
        session.expunge_all()
        return found


def test_a_notice_reaches_the_robot_and_the_mailbox(db: Database, world: dict[str, Any], hub: Settings,
                                                    robot: Robot, mailbox: Mailbox) -> None:
    wire(db, robot)
    tell(db, 1, "甲")
    ran = run_job(db, hub, JOBS["deliveries"])
    assert ran.error is None and ran.result == {"sent": 2, "failed": 0, "dead": 0}
    [(path, body, _)] = robot.received
    assert path.endswith("?key=abcdef123456") and body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith("**新派单 甲-0**\n甲-0 已派至刑侦大队")
    assert f"[在平台中查看]({BASE}/cases/" in content
    [(to, message, _)] = mailbox.messages
    assert to == ["xz@example.test"] and message["Subject"] == "新派单 甲-0"
    assert message["From"] == "lianfu@hub.example.test" and message["X-Lianfu-Event"] == "test:甲:0"
    text = message.get_content()
    assert "请处理 甲-0。" in text and f"{BASE}/cases/" in text
    assert {(d.status, d.attempts) for d in rows(db)} == {("sent", 1)}
    assert all(d.sent_at is not None for d in rows(db))
    # Nothing is sent again.
    assert run_job(db, hub, JOBS["deliveries"]).result == {"sent": 0, "failed": 0, "dead": 0}
    assert len(robot.received) == 1 and len(mailbox.messages) == 1


def test_a_receiver_away_for_a_while_loses_nothing_and_gets_nothing_twice(
        db: Database, world: dict[str, Any], hub: Settings, robot: Robot, mailbox: Mailbox) -> None:
    wire(db, robot)
    keys = tell(db, 5, "乙")
    robot.down = True
    now = datetime.now(timezone.utc)
    for step in range(4):  # four tries while it is down, each when it is due
        result = sender.run(db, hub, now)
        assert result["sent"] == (5 if step == 0 else 0)  # the mail goes at once
        assert result["failed"] == 5
        now += sender.backoff(step + 1) + timedelta(seconds=1)
    failed = [d for d in rows(db) if d.channel == "wecom"]
    assert {(d.status, d.attempts) for d in failed} == {("failed", 4)}
    assert all(d.last_error == "HTTP 500" for d in failed)
    robot.down = False
    assert sender.run(db, hub, now)["sent"] == 5
    for _ in range(3):
        now += timedelta(hours=1)
        assert sender.run(db, hub, now)["sent"] == 0
    for i in range(5):
        assert robot.count(f"乙-{i} ") == 1
    assert mailbox.events() == {key: 1 for key in keys}


def test_failures_back_off_and_the_row_ends_dead_then_the_office_retries_it(
        db: Database, world: dict[str, Any], hub: Settings, robot: Robot) -> None:
    wire(db, robot)
    tell(db, 1, "丙")
    robot.errcode = 93000  # the robot refuses (a wrong key): HTTP 200, but errcode is not 0
    now = datetime.now(timezone.utc)
    with db.transaction() as session:  # only the robot's message in this test
        session.execute(update(Delivery).where(Delivery.channel == "email").values(status="sent"))
    waits = []
    for attempt in range(1, sender.MAX_ATTEMPTS + 1):
        assert sender.run(db, hub, now - timedelta(seconds=1))["sent"] == 0  # not due before its time
        result = sender.run(db, hub, now)
        [row] = [d for d in rows(db) if d.channel == "wecom"]
        assert row.attempts == attempt and row.last_error.startswith("refused: errcode 93000")
        if attempt < sender.MAX_ATTEMPTS:
            assert result["failed"] == 1 and row.status == "failed"
            due = row.next_attempt_at if row.next_attempt_at.tzinfo else row.next_attempt_at.replace(tzinfo=timezone.utc)
            waits.append((due - now).total_seconds())
            now = due
        else:
            assert result["dead"] == 1 and row.status == "dead"
    assert waits == [5, 10, 20, 40, 80, 160, 320, 640, 1280]
    assert sender.run(db, hub, now + timedelta(days=30))["failed"] == 0  # the dead are left alone
    robot.errcode = 0
    with db.transaction() as session:
        assert sender.retry_now(session, row.id, now)
    assert sender.run(db, hub, now)["sent"] == 1
    assert robot.count("丙-0 ") == 10 + 1  # ten refused, then the one that went


def test_mail_without_a_server_fails_visibly_and_goes_once_one_is_set(
        db: Database, world: dict[str, Any], settings: Settings, robot: Robot, mailbox: Mailbox) -> None:
    wire(db, robot)
    tell(db, 1, "丁")
    now = datetime.now(timezone.utc)
    assert sender.run(db, settings, now) == {"sent": 1, "failed": 1, "dead": 0,
                                              "last_error": sender.MAIL_NOT_CONFIGURED}
    [mail] = [d for d in rows(db) if d.channel == "email"]
    assert mail.status == "failed" and mail.last_error == sender.MAIL_NOT_CONFIGURED
    configured = replace(settings, notify=NotifySettings(smtp_url=mailbox.url()))
    assert sender.run(db, configured, now + timedelta(seconds=6))["sent"] == 1
    assert mailbox.events() == {"test:丁:0": 1}


def test_mail_logs_in_with_the_urls_user_and_password(db: Database, world: dict[str, Any], settings: Settings,
                                                      robot: Robot) -> None:
    wire(db, robot)
    tell(db, 1, "戊")
    with Mailbox(login=("hub@example.test", "p@ss w:rd/1")) as box:
        good = replace(settings, notify=NotifySettings(smtp_url=box.url("hub@example.test", "p@ss w:rd/1")))
        assert sender.run(db, good, datetime.now(timezone.utc))["sent"] == 2
        assert box.events() == {"test:戊:0": 1}


def test_a_long_text_is_cut_to_what_a_robot_takes(settings: Settings) -> None:
    row = Delivery(subject="长文", body="很长的内容" * 2000, link="/cases/x", channel="wecom", target="t",
                   event_key="k", kind="x")
    content = sender.wecom_content(replace(settings, base_url=BASE), row)
    assert len(content.encode("utf-8")) <= sender.WECOM_LIMIT
    assert content.startswith("**长文**\n很长的内容") and content.endswith(f"…\n[在平台中查看]({BASE}/cases/x)")
    assert sender.wecom_content(settings, Delivery(subject="短", body="正文", link="/x")) == "**短**\n正文"


def test_two_senders_never_take_the_same_row(db: Database, world: dict[str, Any], robot: Robot) -> None:
    wire(db, robot)
    tell(db, 60, "己")  # 60 robot messages and 60 mails
    now = datetime.now(timezone.utc)
    taken: list[list[uuid.UUID]] = [[], []]
    start = threading.Barrier(2)

    def take(i: int) -> None:
        start.wait()
        while batch := sender.take_due(db, now, 7):
            taken[i].extend(d.id for d in batch)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(taken[0]) + len(taken[1]) == 120
    assert not set(taken[0]) & set(taken[1])


def test_a_sender_that_dies_after_taking_rows_leaves_them_to_be_sent_later(
        db: Database, world: dict[str, Any], hub: Settings, robot: Robot, mailbox: Mailbox) -> None:
    wire(db, robot)
    tell(db, 3, "庚")
    now = datetime.now(timezone.utc)
    taken = sender.take_due(db, now, 100)  # … and then the process is gone: nothing sent, nothing recorded
    assert len(taken) == 6
    assert sender.run(db, hub, now + timedelta(seconds=1))["sent"] == 0  # leased: no other sender takes them
    assert sender.run(db, hub, now + sender.LEASE + timedelta(seconds=1))["sent"] == 6
    assert [robot.count(f"庚-{i} ") for i in range(3)] == [1, 1, 1]
    assert sum(mailbox.events().values()) == 3


def test_an_unreachable_robot_is_a_failure_like_any_other(db: Database, world: dict[str, Any], hub: Settings) -> None:
    from tests.live_hub import free_port

    with db.transaction() as session:
        session.execute(update(Unit).where(Unit.id == UNIT)
                        .values(webhook_url=f"http://127.0.0.1:{free_port()}/robot?key=gone"))
    tell(db, 1, "辛")
    result = sender.run(db, hub, datetime.now(timezone.utc))
    assert result["failed"] == 1 and result["sent"] == 0
    [row] = [d for d in rows(db) if d.channel == "wecom"]
    assert row.status == "failed" and row.attempts == 1 and "Connect" in row.last_error
