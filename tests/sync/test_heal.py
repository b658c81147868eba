"""A hub that lost rows (restored from an older backup) is healed by its spokes: each sends its scope again, the hub
keeps what it lacks or holds older, and the heal is in the hub's trail."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from common.db import Database
from common.models import AuditEntry, Enterprise
from common.roster import service as roster
from common.settings import Settings
from sync.hub import lineage
from sync.client.hub_calls import HubCalls
from sync.hub_link import HubRefused
from sync.wire import HealBatch
from tests.sync.test_sync import assert_spoke_equals_hub_scope, hub_rows, new_enterprise
from tests.sync_support import Federation, ids, rows


@pytest.fixture
def fed(settings: Settings, db: Database, world: dict[str, Any], tmp_path: Path) -> Iterator[Federation]:
    federation = Federation(settings, db, tmp_path / "spokes")
    yield federation
    federation.close()
    lineage.forget_cache()


def lose(fed: Federation, gone: list[Any], older: dict[str, Any]) -> None:
    """What a restore from an older backup does to the hub: rows made since are gone, rows edited since are as they
    were, and the hub's lineage is a new one."""
    table = Enterprise.__table__
    with fed.hub_db.transaction() as session:
        session.execute(delete(table).where(table.c.id.in_(gone)))
        session.execute(update(table).where(table.c.id == older["id"]).values(
            {k: v for k, v in older.items() if k != "id"}))
        lineage.stored(session)
        lineage.renew(session)


def test_a_hub_that_lost_rows_gets_them_back_from_the_spoke(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    edited_id = world["enterprises"]["sh"]
    with fed.hub_db.reads() as session:
        before = dict(session.execute(select(Enterprise.__table__).where(Enterprise.id == edited_id)).mappings().one())
    p = sh.principal("subcenter_sh")
    with sh.db.transaction(actor=p) as session:
        made = new_enterprise(session, p, 71)
        roster.update_enterprise(session, p, edited_id, {"address": "启东市汇龙镇愈合路 1 号"})
    first = sh.sync()
    assert first.ok and first.pushed >= 2, first  # (with their audit entries)
    assert str(made.id) in ids(fed.hub_db, "enterprise")

    lose(fed, [made.id], before)
    assert str(made.id) not in ids(fed.hub_db, "enterprise")

    healed = sh.sync()
    assert healed.ok, healed.error
    assert healed.healed > 0 and healed.heal_taken >= 2, healed
    hub = hub_rows(fed, "enterprise")
    assert str(made.id) in hub
    assert hub[str(edited_id)]["address"] == "启东市汇龙镇愈合路 1 号"
    assert_spoke_equals_hub_scope(fed, "sc-shanghai", {"sc-shanghai", "ws-demo-1"})
    with fed.hub_db.reads() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "sync.healed")).one()
    assert entry.detail["node"] == "sc-shanghai" and entry.detail["added"] >= 1 and entry.detail["updated"] >= 1
    # Healed once: the next round is an ordinary one, and a second heal of this history is refused.
    again = sh.sync()
    assert again.ok and again.healed == 0 and again.heal_taken == 0, again
    with fed.hub_db.reads() as session:
        assert len(session.scalars(select(AuditEntry).where(AuditEntry.action == "sync.healed")).all()) == 1
    assert rows(sh.db, "enterprise") == {k: v for k, v in hub_rows(fed, "enterprise").items()
                                         if v["node_id"] in {"sc-shanghai", "ws-demo-1"}}


def test_a_heal_not_after_a_restore_is_refused_and_audited(fed: Federation) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    calls = HubCalls(sh.link)
    with pytest.raises(HubRefused) as refused:
        calls.raw("POST", "/api/v1/sync/heal", HealBatch("not-a-lineage-of-this-hub", []))
    assert refused.value.status == 409
    with fed.hub_db.reads() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "security.heal_refused")).all()


def test_a_heal_whose_end_was_not_heard_ends_the_next_round_without_an_error(fed: Federation) -> None:
    from sync.client.heal import HubLineage
    from sync.client.state import load, save

    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    with sh.db.reads() as session:
        old = load(session, HubLineage).token
    lose(fed, [], rows_of_one(fed))
    assert sh.sync().ok
    with sh.db.transaction() as session:  # as if the spoke never heard that its heal was done
        save(session, HubLineage(token=old))
    again = sh.sync()
    assert again.ok, again.error
    with sh.db.reads() as session:
        assert load(session, HubLineage).token == lineage.current(fed.hub_db) != old


def test_a_heal_row_outside_the_spokes_scope_is_not_taken(fed: Federation, world: dict[str, Any]) -> None:
    from sync.client.heal import HubLineage
    from sync.client.state import load
    from sync.wire import HealAnswer, HealRow, decode

    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    with sh.db.reads() as session:
        old = load(session, HubLineage).token
    lose(fed, [], rows_of_one(fed))
    outside = dict(next(v for v in hub_rows(fed, "enterprise").values() if v["node_id"] == "sc-suzhou"))
    stranger = {**outside, "id": "01a25190-0000-7000-8000-000000000001", "name": "范围外的企业"}
    stranger = {k: v for k, v in stranger.items() if k not in ("version", "field_versions")}
    calls = HubCalls(sh.link)
    answer = decode(calls.raw("POST", "/api/v1/sync/heal", HealBatch(old, [HealRow("enterprise", stranger)])),
                    HealAnswer)
    assert answer.refused == 1 and answer.added == 0
    assert stranger["id"] not in ids(fed.hub_db, "enterprise")


def rows_of_one(fed: Federation) -> dict[str, Any]:
    """An enterprise as the hub holds it now (a restore that changes nothing of it)."""
    with fed.hub_db.reads() as session:
        return dict(session.execute(select(Enterprise.__table__).limit(1)).mappings().one())
