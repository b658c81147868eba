"""`notify`: an event's notices and messages written with it, once per person, mailbox and robot, never personal data
to a group, nothing at a spoke."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from common.db import Database
from common.models import Delivery, Notification, Unit, User
from common.notify.service import Audience, Notice, notify, scrub, unread_count


def test_a_unit_is_told_in_its_officers_inboxes_mailboxes_and_its_group_once(db: Database, world: dict[str, Any]) -> None:
    with db.transaction() as session:
        session.execute(update(Unit).where(Unit.id == "criminal-investigation")
                        .values(webhook_url="http://127.0.0.1:9/robot?key=abc"))
        session.execute(update(User).where(User.username == "liaison_xz").values(email="xz@example.test"))
        officers = session.scalars(select(User).where(User.role == "liaison", User.unit_id == "criminal-investigation")).all()
    with db.reads() as session:
        unread_before = unread_count(session, officers[0].id)  # the world's own dispatch told them already
    notice = Notice(kind="case.dispatched", title="新派单：SC-SHANGHAI-2026-00001", body="张三 13812345678 的纠纷",
                    link="/cases/x", group_text="新派单 张三 13812345678 身份证 320681198001010012")
    for _ in range(2):  # told twice: once
        with db.transaction() as session:
            notify(session, "case:x:dispatched:1", notice, Audience(units=("criminal-investigation",)))
    with db.reads() as session:
        inbox = session.scalars(select(Notification).where(Notification.event_key == "case:x:dispatched:1")).all()
        assert {n.user_id for n in inbox} == {u.id for u in officers} and len(inbox) == len(officers)
        assert unread_count(session, officers[0].id) == unread_before + 1
        sent = {(d.channel, d.target): d for d in session.scalars(select(Delivery).where(Delivery.event_key == "case:x:dispatched:1"))}
        assert set(sent) == {("email", "xz@example.test"), ("wecom", "http://127.0.0.1:9/robot?key=abc")}
        group = sent[("wecom", "http://127.0.0.1:9/robot?key=abc")].body
        assert "13812345678" not in group and "320681198001010012" not in group and "138****5678" in group


def test_a_spoke_tells_no_one(db: Database, world: dict[str, Any]) -> None:
    from sync import capture

    spoke = Database.connect(db.engine.url.render_as_string(hide_password=False))
    capture.install(spoke, "sc-shanghai", outbox=True)
    with spoke.transaction() as session:
        assert notify(session, "k", Notice(kind="x", title="t"), Audience(office=True)) == 0
    with spoke.reads() as session:
        assert session.scalars(select(Notification).where(Notification.event_key == "k")).all() == []
    spoke.dispose()


def test_scrub_masks_id_numbers_and_mobiles_only() -> None:
    assert scrub("SC-SHANGHAI-2026-00001 13812345678 32068119800101001X") == \
        "SC-SHANGHAI-2026-00001 138****5678 320681********001X"


def test_telling_again_tells_no_one_new(db: Database, world: dict[str, Any]) -> None:
    notice = Notice(kind="bulletin.published", title="预警")
    with db.transaction() as session:
        first = notify(session, "bulletin:again", notice, Audience(office=True))
    with db.transaction() as session:
        assert first > 0 and notify(session, "bulletin:again", notice, Audience(office=True)) == 0
