"""The demo's notices: each demo account has some in its inbox, pointing at real pages, and seeding again adds none."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from common.db import Database
from common.models import Notification, User
from hub.seed import seed_notices


def test_the_demo_accounts_have_notices_and_seeding_again_adds_none(db: Database, world: dict[str, Any]) -> None:
    with db.transaction() as session:
        users = {u.username: u for u in session.scalars(select(User))}
        seed_notices(session, users)
    with db.reads() as session:
        first = session.scalar(select(func.count()).select_from(Notification))
    assert first >= 8
    with db.transaction() as session:
        users = {u.username: u for u in session.scalars(select(User))}
        seed_notices(session, users)
    with db.reads() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == first
        held = session.execute(select(User.username, Notification.node_id, Notification.link, Notification.urgent)
                               .join(User, User.id == Notification.user_id)).all()
    who = {row.username for row in held}
    assert {"office", "liaison_xz", "subcenter_sh", "workstation_1"} <= who
    assert all(row.link.startswith("/") for row in held)
    assert any(row.urgent for row in held if row.username == "office")
    # Each notice is at its person's node: the spoke of that node holds it.
    assert {row.node_id for row in held if row.username == "workstation_1"} == {"ws-demo-1"}
    assert {row.node_id for row in held if row.username == "office"} == {"hub"}
