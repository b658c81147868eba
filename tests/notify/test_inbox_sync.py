"""Notices travel to the spoke of their person's node and nowhere else; reading one there syncs back to the hub; a
spoke may change nothing else of a notice, nor read someone else's, nor make or delete one."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete

from common.clock import clock
from common.models import Notification
from common.notify import inbox
from common.notify.service import Audience, Notice, notify
from sync.wire import Change, PushBatch
from tests.sync_support import Federation, new_uuid, rows
from tests.sync.test_sync import _push, fed, hub_rows  # noqa: F401 - `fed` is the federation fixture


def _tell_everyone(fed: Federation, world: dict[str, Any]) -> dict[str, str]:
    """One notice for each of office, subcenter_sh, workstation_1, subcenter_sz: username -> notice id."""
    users = world["users"]
    with fed.hub_db.transaction() as session:
        # The world's own events (its dispatch, its warning) told people too: only this test's notices count here.
        session.execute(delete(Notification))
        for name in ("office", "subcenter_sh", "workstation_1", "subcenter_sz"):
            notify(session, f"test:{name}", Notice(kind="case.dispatched", title=f"给{name}的通知", link="/cases"),
                   Audience(users=(users[name],)), channels=("inbox",))
    by_user = {str(users[name]): name for name in ("office", "subcenter_sh", "workstation_1", "subcenter_sz")}
    return {by_user[str(row["user_id"])]: notice_id for notice_id, row in hub_rows(fed, "notification").items()}


def test_a_spoke_holds_the_notices_of_its_nodes_people_and_a_read_there_reaches_the_hub(
        fed: Federation, world: dict[str, Any]) -> None:
    notices = _tell_everyone(fed, world)
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    held = rows(sh.db, "notification")
    assert set(held) == {notices["subcenter_sh"], notices["workstation_1"]}
    assert held[notices["subcenter_sh"]]["title"] == "给subcenter_sh的通知"

    # Read at the spoke, through the inbox's own service (as the page does), offline.
    head = sh.principal("subcenter_sh")
    with sh.db.transaction(actor=head) as session:
        assert [str(n.id) for n in session.scalars(inbox.inbox(head))] == [notices["subcenter_sh"]]
        inbox.mark_read(session, head, uuid.UUID(notices["subcenter_sh"]))
    assert sh.queued() >= 1
    result = sh.sync()
    assert result.ok and result.rejected == [], result
    on_hub = hub_rows(fed, "notification")
    assert on_hub[notices["subcenter_sh"]]["read_at"] is not None
    assert on_hub[notices["workstation_1"]]["read_at"] is None
    assert sh.queued() == 0

    # Read at the hub (the workstation head on the hub's pages): the spoke learns it on its next round.
    station = fed.hub_db
    from common.models import User
    from common.policy import load_principal

    with station.transaction() as session:
        user = session.get(User, world["users"]["workstation_1"])
        reader = load_principal(session, user)
    with station.transaction(actor=reader) as session:
        inbox.mark_read(session, reader, uuid.UUID(notices["workstation_1"]))
    assert sh.sync().ok
    assert rows(sh.db, "notification")[notices["workstation_1"]]["read_at"] is not None
    again = sh.sync()
    assert again.ok and again.open_conflicts == 0 and again.repaired == [], again
    in_scope = {k: v for k, v in hub_rows(fed, "notification").items() if v["node_id"] in {"sc-shanghai", "ws-demo-1"}}
    assert rows(sh.db, "notification") == in_scope


def test_a_spoke_may_only_mark_its_own_persons_notice_read(fed: Federation, world: dict[str, Any]) -> None:
    notices = _tell_everyone(fed, world)
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    head = str(world["users"]["subcenter_sh"])
    stamp = [clock.now(), "sc-shanghai"]
    now = "2026-11-20T08:00:00+00:00"
    retitled = Change("notification", notices["subcenter_sh"], {"title": "改掉标题", "read_at": now},
                      fv={"title": stamp, "read_at": stamp}, prior={"title": None, "read_at": None}, actor=head)
    others = Change("notification", notices["workstation_1"], {"read_at": now}, fv={"read_at": stamp},
                    prior={"read_at": None}, actor=head)
    deleted = Change("notification", notices["subcenter_sh"], {"deleted_at": now}, fv={"deleted_at": stamp},
                     prior={"deleted_at": None}, actor=head)
    made_id = new_uuid()
    made = Change("notification", made_id, {
        "id": made_id, "node_id": "sc-shanghai", "user_id": head, "kind": "case.dispatched", "event_key": "forged",
        "title": "伪造的通知", "body": "", "link": "/cases", "entity_type": None, "entity_id": None, "urgent": True,
        "read_at": None, "created_at": now, "deleted_at": None}, made=True, actor=head)
    before = hub_rows(fed, "notification")
    answer = _push(fed, sh, PushBatch("notices", [retitled, others, deleted, made], upto=4))
    assert answer.status_code == 200, answer.text
    refused = {r["id"]: r["reason"] for r in answer.json()["rejected"]}
    assert set(refused) == {notices["subcenter_sh"], notices["workstation_1"], made_id}, refused
    assert "owner" in refused[notices["workstation_1"]]
    assert "may not create" in refused[made_id]
    after = hub_rows(fed, "notification")
    assert after == before and made_id not in after

    # Its own notice, read: accepted.
    read = Change("notification", notices["subcenter_sh"], {"read_at": now}, fv={"read_at": [clock.now(), "sc-shanghai"]},
                  prior={"read_at": None}, actor=head)
    answer = _push(fed, sh, PushBatch("notices-2", [read], upto=5))
    assert answer.status_code == 200 and answer.json()["rejected"] == [], answer.text
    assert hub_rows(fed, "notification")[notices["subcenter_sh"]]["read_at"] is not None
