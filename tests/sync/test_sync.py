"""Sync between the hub and its spokes: scope, both directions, merge, moves, idempotency, refusals, drift."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from common.clock import clock
from common.db import Database
from common.models import AuditEntry, Enterprise, SyncConflict, SyncOutbox
from common.policy import load_principal
from common.cases import service as cases
from common.roster import service as roster
from common.settings import Settings
from common.validation import make_credit_code
from sync.entities import BY_NAME
from sync.wire import PROTOCOL, PROTOCOL_HEADER, SCHEMA_HEADER, Change, PushBatch, encode
from tests.sync_support import Federation, ids, new_uuid, rows


@pytest.fixture
def fed(settings: Settings, db: Database, world: dict[str, Any], tmp_path: Path) -> Iterator[Federation]:
    federation = Federation(settings, db, tmp_path / "spokes")
    yield federation
    federation.close()


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the spokes ask of the hub, in order (every HubLink request, node tokens included)."""
    from sync.hub_link import HubLink

    paths: list[str] = []
    request = HubLink._request

    def noted(self: HubLink, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        paths.append(path)
        return request(self, method, path, *args, **kwargs)

    monkeypatch.setattr(HubLink, "_request", noted)
    return paths


def hub_principal(db: Database, username: str) -> Any:
    from common.models import User

    with db.reads() as session:
        return load_principal(session, session.scalars(select(User).where(User.username == username)).one())


def new_enterprise(session: Any, p: Any, n: int, node: str | None = None) -> Enterprise:
    data = {"name": f"启东同步{n}号建材有限公司", "credit_code": make_credit_code("9", "1", "310115", f"{n + 500:08d}"),
            "region_code": "310115", "industry": "construction"}
    if node:
        data["node"] = node
    return roster.create_enterprise(session, p, data)


def hub_rows(fed: Federation, name: str) -> dict[str, dict[str, Any]]:
    return rows(fed.hub_db, name)


def assert_spoke_equals_hub_scope(fed: Federation, node: str, world_nodes: set[str]) -> None:
    spoke = fed.spokes[node]
    for name in ("enterprise", "person", "visit", "case_record"):
        hub = {k: v for k, v in hub_rows(fed, name).items() if v["node_id"] in world_nodes}
        assert rows(spoke.db, name) == hub, (node, name)


# --- scope ----------------------------------------------------------------------------------------------------------

def test_a_spoke_receives_its_whole_scope_and_nothing_else(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    result = sh.sync()
    assert result.ok, result.error
    assert result.pulled > 0 and result.repaired == []
    enterprises = {str(world["enterprises"][k]) for k in ("sh", "ws")}
    assert ids(sh.db, "enterprise") == enterprises  # its own and its workstation's, never Suzhou's or the hub's
    assert ids(sh.db, "person") == {str(world["people"][k]) for k in ("sh", "ws")}
    assert ids(sh.db, "case_record") == {str(world["cases"][k]) for k in ("sh", "ws")}
    assert_spoke_equals_hub_scope(fed, "sc-shanghai", {"sc-shanghai", "ws-demo-1"})
    # Case events travel with their case, and the spoke works out the same status.
    with sh.db.reads() as session:
        assert cases.case_state(session, world["cases"]["sh"]).status == "dispatched"
    ws = fed.enroll("ws-demo-1")
    assert ws.sync().ok
    assert ids(ws.db, "enterprise") == {str(world["enterprises"]["ws"])}


def test_a_scope_pulled_in_many_pages_ends_in_agreement_without_a_repair(
        fed: Federation, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest taken before a pull is stale once pages have been applied: the last page is compared with the
    hub's digest as it stands then, so a long first pull does not end in a needless repair (a second pull)."""
    import sync.client.inbox

    p = hub_principal(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=p) as session:
        for n in range(7):
            new_enterprise(session, p, 40 + n, node="sc-shanghai")
    monkeypatch.setattr(sync.client.inbox, "PULL_PAGE_ROWS", 1)  # a row a page: the last page comes empty
    sh = fed.enroll("sc-shanghai")
    result = sh.sync()
    scope = sum(len([r for r in hub_rows(fed, name).values() if r["node_id"] in {"sc-shanghai", "ws-demo-1"}])
                for name in ("enterprise", "person", "case_record", "visit"))
    assert result.ok and result.repaired == [], result
    assert result.pulled >= scope > 8  # a row a page, each row once (no second pull)
    assert result.pulled < 2 * scope, result
    assert_spoke_equals_hub_scope(fed, "sc-shanghai", {"sc-shanghai", "ws-demo-1"})


def test_a_second_round_with_nothing_new_changes_nothing(fed: Federation) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    before = {name: rows(sh.db, name) for name in ("enterprise", "person", "case_record")}
    again = sh.sync()
    assert again.ok and again.pushed == 0 and again.repaired == []
    assert {name: rows(sh.db, name) for name in before} == before


def test_a_quiet_round_is_one_request_and_the_offices_changes_to_the_directory_come_with_the_next_round(
        fed: Federation, asked: list[str]) -> None:
    """The pull's answer carries a tag of the spoke's directory (its node's accounts, the nodes, the office's lists):
    the spoke fetches the directory only when the tag changes. A person the office disables, a node renamed or a
    list changed reaches the spoke at its next round; a round with nothing new stays one request."""
    from common.models import Node, Setting, User
    from common.center import settings as stored_settings
    from common.visits.reference import CADENCE_KEY

    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok and sh.sync().ok
    asked.clear()
    assert sh.sync().ok and asked == ["/api/v1/sync/pull"], asked
    with sh.db.reads() as session:
        assert session.scalars(select(User.active).where(User.username == "subcenter_sh")).one() is True
    # The office disables the sub-center's head: at the spoke by the next round, and written down there.
    with fed.hub_db.transaction() as session:
        session.scalars(select(User).where(User.username == "subcenter_sh")).one().active = False
    asked.clear()
    assert sh.sync().ok and asked == ["/api/v1/sync/pull", "/api/v1/sync/directory"], asked
    with sh.db.reads() as session:
        assert session.scalars(select(User.active).where(User.username == "subcenter_sh")).one() is False
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "sync.directory")) is not None
    assert sh.sync().ok  # the spoke's record of taking it goes up to the hub
    asked.clear()
    assert sh.sync().ok and asked == ["/api/v1/sync/pull"], asked  # taken: quiet again
    # A list the office changes, and a node renamed, come the same way.
    office = hub_principal(fed.hub_db, "office")
    with fed.hub_db.transaction() as session:
        stored_settings.put(session, office, CADENCE_KEY, {"low": 200, "medium": 100, "high": 20})
    asked.clear()
    assert sh.sync().ok and "/api/v1/sync/directory" in asked, asked
    with sh.db.reads() as session:
        assert session.get(Setting, CADENCE_KEY).value == {"low": 200, "medium": 100, "high": 20}
    assert sh.sync().ok
    with fed.hub_db.transaction() as session:
        session.get(Node, "ws-demo-1").name = "演示一号工作站（新址）"
    asked.clear()
    assert sh.sync().ok and asked == ["/api/v1/sync/pull", "/api/v1/sync/directory"], asked
    with sh.db.reads() as session:
        assert session.get(Node, "ws-demo-1").name == "演示一号工作站（新址）"


def test_the_scheduled_round_says_where_the_spoke_lives_once_then_is_one_request_while_nothing_changes(
        fed: Federation, asked: list[str]) -> None:
    """What `lianfu spoke serve` runs every interval: the spoke's address and the hub's metadata and keys at the
    first round (then every few minutes), the directory when its tag changes, and a quiet round is one request."""
    from spoke.schedule import SpokeSchedule

    sh = fed.enroll("sc-shanghai")
    asked.clear()
    schedule = SpokeSchedule(sh.db, sh.settings, sh.link, enabled=False, interval=60)
    first = schedule.round()
    assert first is not None and first.ok, first
    assert [path for path in asked if path != "/oauth/token"][:3] == [
        "/api/v1/sync/address", "/.well-known/openid-configuration", "/oauth/jwks"], asked
    for _ in range(2):  # the first rounds also send up what the spoke noted of them (its trail)
        assert schedule.round().ok
    asked.clear()
    for _ in range(3):
        assert schedule.round().ok
    assert asked == ["/api/v1/sync/pull"] * 3, asked
    assert schedule.failures == 0 and schedule.last_success is not None


def test_a_round_that_wrote_folds_the_spokes_wal_back_into_its_database_after_it(fed: Federation) -> None:
    from sync.client import SpokeSync

    sh = fed.enroll("sc-shanghai")
    database = Path(sh.db.engine.url.database or "")
    before = database.stat().st_mtime_ns  # in WAL mode a commit writes only the log; a checkpoint, the file
    engine = SpokeSync(sh.db, sh.link, sh.settings.data_dir, sh.node)
    result = engine.round()
    assert result.ok and result.pulled > 0
    assert engine.checkpointing is not None
    engine.checkpointing.join(30)
    # The pulled rows are in the database file itself now, not only in its write-ahead log.
    assert database.stat().st_mtime_ns > before


# --- both directions ------------------------------------------------------------------------------------------------

def test_a_write_made_outside_a_request_with_its_actor_given_is_accepted_by_the_hub(fed: Federation) -> None:
    """A script or the CLI writes with the actor passed to the transaction (no request around it): the outbox
    records who wrote, and the hub takes the change. The same write without an actor is refused as no one's."""
    ws = fed.enroll("ws-demo-1")
    assert ws.sync().ok
    p = ws.principal("workstation_1")
    enterprise = str(next(iter(ids(ws.db, "enterprise"))))
    with ws.db.transaction(actor=p) as session:
        case = cases.create_case(session, p, {"channel": "platform", "category": "consultation", "title": "脚本录入",
                                             "enterprise_id": enterprise})
        case_id = str(case.id)
    with ws.db.reads() as session:
        actors = set(session.scalars(select(SyncOutbox.actor_id).where(SyncOutbox.row_id == case_id)))
    assert actors == {p.user_id}
    pushed = ws.sync()
    assert pushed.ok and pushed.rejected == [] and ws.queued() == 0, pushed
    assert case_id in hub_rows(fed, "case_record")

    with ws.db.transaction() as session:  # no actor: a change the hub cannot attribute to anyone
        orphan = str(cases.create_case(session, p, {"channel": "platform", "category": "consultation",
                                                    "title": "无人录入", "enterprise_id": enterprise}).id)
    refused = ws.sync()
    assert refused.ok and any(r["id"] == orphan and r["reason"] == "written by no known person"
                              for r in refused.rejected), refused
    assert orphan not in hub_rows(fed, "case_record")


def test_a_record_made_at_a_workstation_reaches_its_subcenter_and_no_other(fed: Federation) -> None:
    sh, ws, sz = fed.enroll("sc-shanghai"), fed.enroll("ws-demo-1"), fed.enroll("sc-suzhou")
    for spoke in (sh, ws, sz):
        assert spoke.sync().ok
    p = ws.principal("workstation_1")
    with ws.db.transaction(actor=p) as session:
        case = cases.create_case(session, p, {"channel": "platform", "category": "consultation", "title": "劳动合同咨询",
                                             "enterprise_id": str(next(iter(ids(ws.db, "enterprise"))))})
        case_id = str(case.id)
    assert ws.queued() >= 1
    pushed = ws.sync()
    assert pushed.ok and pushed.pushed >= 1 and pushed.rejected == [] and ws.queued() == 0, pushed
    assert case_id in hub_rows(fed, "case_record")
    assert sh.sync().ok and sz.sync().ok
    assert case_id in ids(sh.db, "case_record")  # the sub-center above the workstation
    assert case_id not in ids(sz.db, "case_record")  # another sub-center: never
    # The hub stamped its own version; after the next pull the workstation holds exactly the hub's row.
    assert ws.sync().ok
    assert rows(ws.db, "case_record")[case_id] == hub_rows(fed, "case_record")[case_id]


def test_an_office_edit_at_the_hub_reaches_the_spoke(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    office = hub_principal(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        roster.update_enterprise(session, office, world["enterprises"]["sh"], {"risk_level": "high"})
    assert sh.sync().ok
    assert rows(sh.db, "enterprise")[str(world["enterprises"]["sh"])]["risk_level"] == "high"


# --- merge ----------------------------------------------------------------------------------------------------------

def _edit_at_spoke(spoke: Any, username: str, enterprise_id: Any, data: dict[str, Any]) -> None:
    p = spoke.principal(username)
    with spoke.db.transaction(actor=p) as session:
        roster.update_enterprise(session, p, enterprise_id, data)


def test_concurrent_edits_of_different_fields_both_survive(fed: Federation, world: dict[str, Any]) -> None:
    sh, ws = fed.enroll("sc-shanghai"), fed.enroll("ws-demo-1")
    assert sh.sync().ok and ws.sync().ok
    target = world["enterprises"]["ws"]
    _edit_at_spoke(sh, "subcenter_sh", target, {"address": "浦东新区张江路88号"})
    _edit_at_spoke(ws, "workstation_1", target, {"contact_name": "陈工"})
    assert ws.sync().ok and sh.sync().ok and ws.sync().ok
    for node_db in (fed.hub_db, sh.db, ws.db):
        row = rows(node_db, "enterprise")[str(target)]
        assert (row["address"], row["contact_name"]) == ("浦东新区张江路88号", "陈工")
    with fed.hub_db.reads() as session:
        assert session.scalar(select(SyncConflict.id)) is None


def test_what_a_spoke_pushed_is_not_pulled_back_but_a_later_change_is(fed: Federation, world: dict[str, Any]) -> None:
    from sync import hub as hub_side

    sh, ws = fed.enroll("sc-shanghai"), fed.enroll("ws-demo-1")
    assert sh.sync().ok and ws.sync().ok
    edited = world["enterprises"]["ws"]  # the workstation's: in both spokes' scopes
    _edit_at_spoke(sh, "subcenter_sh", edited, {"address": "浦东新区张江路99号"})
    p = sh.principal("subcenter_sh")
    with sh.db.transaction(actor=p) as session:
        made = new_enterprise(session, p, 77).id
    assert sh.sync().ok

    def due(node: str) -> set[str]:
        """The enterprises a pull from the start would send the node."""
        with fed.hub_db.reads() as session:
            page = hub_side.pull_page(session, hub_side.spoke_principal(session, node), {}, 1000)
        return {str(r.values["id"]) for r in page.rows if r.entity == "enterprise"}

    hub, spoke = rows(fed.hub_db, "enterprise"), rows(sh.db, "enterprise")
    for row_id in (str(edited), str(made)):
        # The push's answer stamped the hub's version at the spoke: the two hold the same row, version included.
        assert spoke[row_id] == hub[row_id]
        assert row_id not in due("sc-shanghai")
    assert str(edited) in due("ws-demo-1")  # another spoke still receives the edit
    assert ws.sync().ok and rows(ws.db, "enterprise")[str(edited)]["address"] == "浦东新区张江路99号"
    # The office changes one of them at the hub: it travels to the spoke again.
    office = hub_principal(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        roster.update_enterprise(session, office, made, {"risk_level": "high"})
    assert str(made) in due("sc-shanghai")
    assert sh.sync().ok
    assert rows(sh.db, "enterprise")[str(made)]["risk_level"] == "high"


# A transaction left open while another writes and a spoke pulls: PostgreSQL's (SQLite has one writer at a time).
@pytest.mark.parametrize("db_kind", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True)
def test_a_row_committed_after_a_pull_passed_it_still_arrives_and_rows_seen_are_not_sent_again(
        fed: Federation, world: dict[str, Any]) -> None:
    """A hub transaction stamps a row, then a later one commits first and a pull passes both versions: the first
    row still reaches the spoke once it commits. A pull starts a little before its cursor for such rows; what the
    spoke had already seen is not sent again (SEEN in sync/wire.py)."""
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    office = hub_principal(fed.hub_db, "office")
    late, early = world["enterprises"]["ws"], world["enterprises"]["sh"]  # two nodes of the scope: no shared lock
    with fed.hub_db.transaction() as held:
        # Written as a spoke's push writes a merged row (the office's own edits take the audit chain's head first,
        # so they do not overlap): stamped and written, not committed.
        table = BY_NAME["enterprise"].table
        stamps = held.execute(select(table.c.field_versions).where(table.c.id == late)).scalar_one()
        version = clock.now()
        held.execute(update(table).where(table.c.id == late).values(
            address="浦东新区迟到路1号", version=version, field_versions={**(stamps or {}), "address": [version, "hub"]}))
        with fed.hub_db.transaction(actor=office) as session:
            roster.update_enterprise(session, office, early, {"address": "浦东新区先到路2号"})
        passed = sh.sync()
        assert passed.ok and passed.pulled >= 1, passed
        spoke = rows(sh.db, "enterprise")
        assert spoke[str(early)]["address"] == "浦东新区先到路2号"
        assert spoke[str(late)]["address"] != "浦东新区迟到路1号"
        with fed.hub_db.reads() as session:
            stamped = session.get(Enterprise, late).version
        assert stamped < int(read_cursors(sh)["enterprise"][0])  # the cursor is past the row still being written
    arrived = sh.sync()
    assert arrived.ok and arrived.repaired == [], arrived
    assert rows(sh.db, "enterprise")[str(late)]["address"] == "浦东新区迟到路1号"
    # Rows seen by a read that no transaction was writing under are skipped however recent: nothing comes again.
    # (Transaction ids are the server's: another database's transaction open during a read holds that read's horizon
    # back, and its rows come once more. Well within the overlap's 10 s, a round brings nothing.)
    deadline = time.monotonic() + 5
    while True:
        again = sh.sync()
        assert again.ok and again.repaired == [], again
        if again.pulled == 0:
            break
        assert time.monotonic() < deadline, again
    assert_spoke_equals_hub_scope(fed, "sc-shanghai", {"sc-shanghai", "ws-demo-1"})


def read_cursors(spoke: Any) -> dict[str, list[Any]]:
    from sync.client import read_state

    with spoke.db.reads() as session:
        return read_state(session, "cursors")


def test_a_round_with_changes_both_ways_is_one_request_and_ends_in_agreement(
        fed: Federation, world: dict[str, Any], asked: list[str]) -> None:
    """The round's last batch asks for the first pull page: the spoke's edit goes up and the office's comes down in
    one request, and the page's digest of the scope settles the round (no separate pull, digest or verdict)."""
    from common.models import SyncPeer

    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    _edit_at_spoke(sh, "subcenter_sh", world["enterprises"]["sh"], {"address": "浦东新区世纪大道1号"})
    office = hub_principal(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        roster.update_enterprise(session, office, world["enterprises"]["ws"], {"risk_level": "high"})
    with fed.hub_db.reads() as session:
        before = session.get(SyncPeer, "sc-shanghai")
        pulled_before, success_before = before.pulled_total, before.last_success_at
    asked.clear()
    result = sh.sync()
    assert result.ok and result.pushed >= 1 and result.pulled >= 1 and result.repaired == [], result
    assert asked == ["/api/v1/sync/push"], asked
    assert rows(sh.db, "enterprise")[str(world["enterprises"]["ws"])]["risk_level"] == "high"
    assert hub_rows(fed, "enterprise")[str(world["enterprises"]["sh"])]["address"] == "浦东新区世纪大道1号"
    with fed.hub_db.reads() as session:
        after = session.get(SyncPeer, "sc-shanghai")
        assert after.pulled_total == pulled_before + result.pulled
        assert after.last_success_at > success_before  # the round ended well, as the hub saw it
    assert_spoke_equals_hub_scope(fed, "sc-shanghai", {"sc-shanghai", "ws-demo-1"})
    asked.clear()
    again = sh.sync()  # nothing to send: one pull request, as before
    assert again.ok and again.pushed == 0 and again.repaired == [] and asked == ["/api/v1/sync/pull"], (again, asked)


def test_the_same_field_on_two_nodes_gets_one_winner_and_a_conflict_record(fed: Federation, world: dict[str, Any]) -> None:
    sh, ws = fed.enroll("sc-shanghai"), fed.enroll("ws-demo-1")
    assert sh.sync().ok and ws.sync().ok
    target = world["enterprises"]["ws"]
    _edit_at_spoke(ws, "workstation_1", target, {"address": "工作站填写的地址"})
    _edit_at_spoke(sh, "subcenter_sh", target, {"address": "分中心填写的地址"})  # later: it wins
    first, second = ws.sync(), sh.sync()
    assert first.ok and second.ok and second.conflicts == 1
    assert ws.sync().ok
    for node_db in (fed.hub_db, sh.db, ws.db):
        assert rows(node_db, "enterprise")[str(target)]["address"] == "分中心填写的地址"
    with fed.hub_db.reads() as session:
        (conflict,) = session.scalars(select(SyncConflict)).all()
    assert (conflict.field, conflict.kept_value, conflict.other_value) == ("address", "分中心填写的地址", "工作站填写的地址")
    assert conflict.kept_by[1] == "sc-shanghai" and conflict.other_by[1] == "ws-demo-1" and conflict.status == "open"


# --- moves between scopes -------------------------------------------------------------------------------------------

def test_an_enterprise_given_to_another_subcenter_moves_whole(fed: Federation, world: dict[str, Any]) -> None:
    sh, sz = fed.enroll("sc-shanghai"), fed.enroll("sc-suzhou")
    assert sh.sync().ok
    photo = _attach(sh, "subcenter_sh", world["visits"]["sh"], b"visit photo", entity_type="visit")
    assert sh.sync().ok and sz.sync().ok
    moved = world["enterprises"]["sh"]
    office = hub_principal(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        roster.update_enterprise(session, office, moved, {"node": "sc-suzhou"})
    for spoke in (sh, sz):
        result = spoke.sync()
        assert result.ok and result.repaired == [], (spoke.node, result)  # a drop, not a drift
    assert str(moved) not in ids(sh.db, "enterprise") and str(world["people"]["sh"]) not in ids(sh.db, "person")
    assert str(moved) in ids(sz.db, "enterprise") and str(world["people"]["sh"]) in ids(sz.db, "person")
    # The visit's file goes with it: the old sub-center no longer holds it, the new one does.
    assert str(photo.id) not in ids(sh.db, "attachment") and str(photo.id) in ids(sz.db, "attachment")
    assert hub_rows(fed, "attachment")[str(photo.id)]["node_id"] == "sc-suzhou"


def test_an_enterprise_a_subcenter_gives_its_workstation_moves_whole_everywhere(
        fed: Federation, world: dict[str, Any]) -> None:
    """A sub-center head hands an enterprise (with its person, visit and a dispatched case) to a workstation of its
    own, at the spoke: the hub takes the whole file, the workstation receives it, nothing is refused."""
    sh, ws = fed.enroll("sc-shanghai"), fed.enroll("ws-demo-1")
    assert sh.sync().ok and ws.sync().ok
    moved, case_id = world["enterprises"]["sh"], str(world["cases"]["sh"])
    scan = _attach(sh, "subcenter_sh", world["cases"]["sh"], b"case scan", entity_type="case")
    assert sh.sync().ok
    assert str(moved) not in ids(ws.db, "enterprise")
    _edit_at_spoke(sh, "subcenter_sh", moved, {"node": "ws-demo-1"})
    pushed = sh.sync()
    assert pushed.ok and pushed.rejected == [] and sh.queued() == 0, pushed
    with fed.hub_db.reads() as session:
        refused = session.scalars(select(AuditEntry).where(AuditEntry.action == "security.sync_rejected")).all()
    assert refused == []
    for name, row_id in (("enterprise", str(moved)), ("person", str(world["people"]["sh"])),
                         ("visit", str(world["visits"]["sh"])), ("case_record", case_id), ("attachment", str(scan.id))):
        assert hub_rows(fed, name)[row_id]["node_id"] == "ws-demo-1", name
    events = {k: v for k, v in hub_rows(fed, "case_event").items() if v["case_id"] == world["cases"]["sh"]}
    assert len(events) >= 2 and {v["node_id"] for v in events.values()} == {"ws-demo-1"}
    assert ws.sync().ok and sh.sync().ok
    for name in ("enterprise", "person", "visit", "case_record", "case_event", "attachment"):
        hub = {k: v for k, v in hub_rows(fed, name).items() if v["node_id"] in {"sc-shanghai", "ws-demo-1"}}
        assert rows(sh.db, name) == hub, name
        assert rows(ws.db, name) == {k: v for k, v in hub.items() if v["node_id"] == "ws-demo-1"}, name
    assert case_id in ids(ws.db, "case_record") and str(scan.id) in ids(ws.db, "attachment")


def test_concurrent_moves_within_a_scope_leave_one_conflict_and_the_whole_file_with_the_winner(
        fed: Federation, world: dict[str, Any]) -> None:
    """The sub-center head gives an enterprise to one of its workstations at the spoke while the office, later, gives
    it to another: the office's move wins; the spoke's is one conflict record (the enterprise's node) for the office
    to review — not a refusal, nor a record per row of the file — and the whole file ends at the winner's node."""
    from common.federation.service import add_node
    from sync.client import SpokeSync

    with fed.hub_db.transaction() as session:
        add_node(session, "ws-demo-2", "workstation", "演示二号工作站", "sc-shanghai", "310115")
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    SpokeSync(sh.db, sh.link, sh.settings.data_dir, sh.node).refresh_directory(force=True)
    moved, case_id = world["enterprises"]["sh"], world["cases"]["sh"]
    scan = _attach(sh, "subcenter_sh", case_id, b"case scan", entity_type="case")
    assert sh.sync().ok
    _edit_at_spoke(sh, "subcenter_sh", moved, {"node": "ws-demo-1"})
    office = hub_principal(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        roster.update_enterprise(session, office, moved, {"node": "ws-demo-2"})
    pushed = sh.sync()
    assert pushed.ok and pushed.rejected == [] and sh.queued() == 0, pushed
    with fed.hub_db.reads() as session:
        refused = session.scalars(select(AuditEntry).where(AuditEntry.action == "security.sync_rejected")).all()
        conflicts = session.scalars(select(SyncConflict)).all()
    assert refused == []
    assert [(c.entity, c.row_id, c.field, c.kept_value, c.other_value) for c in conflicts] == [
        ("enterprise", str(moved), "node_id", "ws-demo-2", "ws-demo-1")]
    events = [k for k, v in hub_rows(fed, "case_event").items() if v["case_id"] == case_id]
    assert events
    for name, row_ids in (("enterprise", [moved]), ("person", [world["people"]["sh"]]), ("visit", [world["visits"]["sh"]]),
                          ("case_record", [case_id]), ("case_event", events), ("attachment", [scan.id])):
        for row_id in row_ids:
            assert hub_rows(fed, name)[str(row_id)]["node_id"] == "ws-demo-2", name
    assert sh.sync().ok
    scope = {"sc-shanghai", "ws-demo-1", "ws-demo-2"}
    for name in ("enterprise", "person", "visit", "case_record", "case_event", "attachment"):
        assert rows(sh.db, name) == {k: v for k, v in hub_rows(fed, name).items() if v["node_id"] in scope}, name


# --- the protocol ---------------------------------------------------------------------------------------------------

def _push(fed: Federation, spoke: Any, batch: PushBatch, **headers: str) -> Any:
    from common.migrate import head_and_previous

    sent = {PROTOCOL_HEADER: str(PROTOCOL), SCHEMA_HEADER: head_and_previous()[0], "Content-Type": "application/json",
            "Authorization": f"Bearer {spoke.link.node_token()}", **headers}
    return fed.hub.post("/api/v1/sync/push", content=encode(batch), headers=sent)


def _made_enterprise(spoke: Any, node: str, actor: str, n: int) -> Change:
    now = "2026-11-20T08:00:00+00:00"
    values = {"id": new_uuid(), "node_id": node, "name": f"启东推送{n}号公司", "name_pinyin": "", "region_code": "310115",
              "credit_code": make_credit_code("9", "1", "310115", f"{n + 900:08d}"), "address": "", "industry": "other",
              "is_key": False, "parent_company": "", "risk_level": "low", "contact_name": "", "contact_phone": "",
              "notes": "", "created_at": now, "deleted_at": None}
    return Change("enterprise", values["id"], values, made=True, actor=actor)


def test_a_batch_sent_twice_applies_once(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    actor = str(world["users"]["subcenter_sh"])
    batch = PushBatch("test-1", [_made_enterprise(sh, "sc-shanghai", actor, 1)], upto=7)
    first = _push(fed, sh, batch)
    second = _push(fed, sh, batch)
    assert first.status_code == second.status_code == 200, first.text
    assert first.json()["applied"] == 1 and not first.json()["duplicate"]
    assert second.json()["duplicate"] and second.json()["upto"] == 7
    assert sum(1 for r in hub_rows(fed, "enterprise").values() if r["name"] == "启东推送1号公司") == 1


@pytest.mark.parametrize("forgery", ["other node", "other writer", "unknown writer", "append-only edit", "unknown row",
                                     "another spoke's token", "case moved without its enterprise",
                                     "event moved without its enterprise"])
def test_rows_outside_the_spokes_scope_or_writers_are_refused(forgery: str, fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    actor = str(world["users"]["subcenter_sh"])
    if forgery == "other node":
        change = _made_enterprise(sh, "sc-suzhou", actor, 2)
    elif forgery == "other writer":
        change = _made_enterprise(sh, "sc-shanghai", str(world["users"]["subcenter_sz"]), 3)
    elif forgery == "unknown writer":
        change = _made_enterprise(sh, "sc-shanghai", new_uuid(), 4)
    elif forgery == "append-only edit":
        event_id = next(iter(ids(sh.db, "case_event")))
        change = Change("case_event", event_id, {"note": "改写"}, fv={"note": [1, "sc-shanghai"]}, actor=actor)
    elif forgery == "unknown row":
        change = Change("enterprise", new_uuid(), {"address": "x"}, fv={"address": [1, "sc-shanghai"]}, actor=actor)
    elif forgery.endswith("moved without its enterprise"):
        # Into the workstation below it (in scope), while the enterprise stays at the sub-center.
        name = "case_record" if forgery.startswith("case") else "case_event"
        row_id = str(world["cases"]["sh"]) if name == "case_record" else next(
            k for k, v in rows(sh.db, "case_event").items() if v["case_id"] == world["cases"]["sh"])
        change = Change(name, row_id, {"node_id": "ws-demo-1"}, fv={"node_id": [clock.now(), "sc-shanghai"]},
                        prior={"node_id": None}, actor=actor)
    else:
        # The workstation below it signs a batch of the sub-center's own row, in the sub-center's name.
        sh = fed.enroll("ws-demo-1")
        change = _made_enterprise(sh, "sc-shanghai", actor, 5)
    before = {name: hub_rows(fed, name) for name in ("enterprise", "case_record", "case_event")}
    answer = _push(fed, sh, PushBatch(f"forged-{forgery}", [change], upto=1))
    assert answer.status_code == 200
    body = answer.json()
    assert body["applied"] == 0 and [r["id"] for r in body["rejected"]] == [change.id]
    assert {name: hub_rows(fed, name) for name in before} == before
    with fed.hub_db.reads() as session:
        events = session.scalars(select(AuditEntry).where(AuditEntry.action == "security.sync_rejected")).all()
    assert [e.entity_id for e in events] == [change.id]


def test_malformed_batches_and_old_spokes_are_told_why(fed: Federation) -> None:
    sh = fed.enroll("sc-shanghai")
    token = {"Authorization": f"Bearer {sh.link.node_token()}"}
    from common.migrate import head_and_previous

    head, previous = head_and_previous()
    good = {PROTOCOL_HEADER: str(PROTOCOL), SCHEMA_HEADER: head, **token}
    garbage = fed.hub.post("/api/v1/sync/push", content=b"{not json", headers=good)
    assert garbage.status_code == 400 and garbage.headers["content-type"].startswith("application/problem+json")
    old = fed.hub.post("/api/v1/sync/pull", content=b"{}", headers={**good, PROTOCOL_HEADER: "0"})
    assert old.status_code == 426 and "升级" in old.json()["detail"]
    behind = fed.hub.post("/api/v1/sync/pull", content=b"{}", headers={**good, SCHEMA_HEADER: previous})
    assert behind.status_code == 200  # one release behind still syncs
    # A spoke of the protocol before gets cursors as it knows them (without the horizon of SEEN in sync/wire.py).
    now = fed.hub.post("/api/v1/sync/pull", content=b"{}", headers=good)
    before = fed.hub.post("/api/v1/sync/pull", content=b"{}", headers={**good, PROTOCOL_HEADER: str(PROTOCOL - 1)})
    assert now.status_code == before.status_code == 200
    assert {len(c) for c in now.json()["cursors"].values()} == {4 if fed.hub_db.dialect == "postgresql" else 3}
    assert {len(c) for c in before.json()["cursors"].values()} == {3}
    ancient = fed.hub.post("/api/v1/sync/pull", content=b"{}", headers={**good, SCHEMA_HEADER: "0001"})
    assert ancient.status_code == 426
    person = fed.hub.post("/api/v1/sync/pull", content=b"{}", headers={PROTOCOL_HEADER: str(PROTOCOL), SCHEMA_HEADER: head})
    assert person.status_code == 401


def test_rows_with_values_their_columns_cannot_hold_are_refused_and_the_rest_of_the_batch_applies(
        fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    actor = str(world["users"]["subcenter_sh"])
    good = _made_enterprise(sh, "sc-shanghai", actor, 11)
    long_name = _made_enterprise(sh, "sc-shanghai", actor, 12)
    long_name.values["name"] = "长" * 201  # the column holds 200
    wrong_type = _made_enterprise(sh, "sc-shanghai", actor, 13)
    wrong_type.values["is_key"] = "yes"
    existing = str(world["enterprises"]["sh"])
    stamp = [clock.now(), "sc-shanghai"]
    long_edit = Change("enterprise", existing, {"address": "路" * 301}, fv={"address": stamp},
                       prior={"address": None}, actor=actor)
    list_edit = Change("enterprise", existing, {"notes": ["not", "text"]}, fv={"notes": stamp},
                       prior={"notes": None}, actor=actor)
    event = new_uuid()
    huge_number = Change("case_event", event, {"id": event, "case_id": str(world["cases"]["sh"]), "kind": "feedback",
                                               "node_id": "sc-shanghai", "satisfaction": 1 << 40}, made=True, actor=actor)
    before = hub_rows(fed, "enterprise")
    answer = _push(fed, sh, PushBatch("bad-values", [good, long_name, wrong_type, long_edit, list_edit, huge_number],
                                         upto=6))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["applied"] == 1
    refused = {r["id"]: r["reason"] for r in body["rejected"]}
    assert set(refused) == {long_name.id, wrong_type.id, existing, event}, refused
    assert "name" in refused[long_name.id] and "is_key" in refused[wrong_type.id]
    assert "satisfaction" in refused[event]
    after = hub_rows(fed, "enterprise")
    assert set(after) - set(before) == {good.id} and event not in hub_rows(fed, "case_event")
    assert {k: v for k, v in after.items() if k != good.id} == before


def test_a_suspended_nodes_credentials_stop_at_once(fed: Federation) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    from common.models import Node

    with fed.hub_db.transaction() as session:
        session.get(Node, "sc-shanghai").status = "suspended"
    result = sh.sync()
    assert not result.ok and "refused" in (result.error or "")


# --- drift ----------------------------------------------------------------------------------------------------------

def test_a_spoke_that_drifted_is_detected_and_repaired(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    table = BY_NAME["enterprise"].table
    lost = str(world["enterprises"]["ws"])
    with sh.db.transaction() as session:
        # Behind sync's back: a row lost, a row that was never the hub's, a value changed without a version.
        session.execute(delete(BY_NAME["person"].table).where(BY_NAME["person"].table.c.enterprise_id == world["enterprises"]["ws"]))
        session.execute(delete(table).where(table.c.id == world["enterprises"]["ws"]))
        stray = dict(next(iter(rows(sh.db, "enterprise").values())))
        stray.update(id=__import__("uuid").uuid4(), credit_code=make_credit_code("9", "1", "310115", "00009999"))
        session.execute(insert(table).values(**stray))
    repaired = sh.sync()
    assert repaired.ok and "enterprise" in repaired.repaired
    assert ids(sh.db, "enterprise") == {str(world["enterprises"]["sh"]), lost}
    assert_spoke_equals_hub_scope(fed, "sc-shanghai", {"sc-shanghai", "ws-demo-1"})
    with sh.db.reads() as session:
        assert session.scalar(select(SyncOutbox.seq)) is None


# --- the pages ------------------------------------------------------------------------------------------------------

def test_the_office_reviews_a_conflict_on_the_sync_page_and_the_decision_syncs_out(
        fed: Federation, world: dict[str, Any], clients: Any) -> None:
    sh, ws = fed.enroll("sc-shanghai"), fed.enroll("ws-demo-1")
    assert sh.sync().ok and ws.sync().ok
    target = str(world["enterprises"]["ws"])
    _edit_at_spoke(ws, "workstation_1", world["enterprises"]["ws"], {"address": "工作站填写的地址"})
    _edit_at_spoke(sh, "subcenter_sh", world["enterprises"]["ws"], {"address": "分中心填写的地址"})
    assert ws.sync().ok and sh.sync().conflicts == 1
    office = clients("office")
    page = office.get("/sync")
    assert page.status_code == 200
    for text in ("上海分中心", "工作站填写的地址", "分中心填写的地址", "改用另一个值", "sc-shanghai"):
        assert text in page.text, text
    with fed.hub_db.reads() as session:
        conflict = session.scalars(select(SyncConflict)).one()
    assert clients("liaison_xz").post(f"/sync/conflicts/{conflict.id}", data={"decision": "replace"}).status_code == 403
    answer = office.post(f"/sync/conflicts/{conflict.id}", data={"decision": "replace"}, follow_redirects=False)
    assert answer.status_code == 303
    assert office.post(f"/sync/conflicts/{conflict.id}", data={"decision": "keep"}).status_code == 409
    assert hub_rows(fed, "enterprise")[target]["address"] == "工作站填写的地址"
    assert sh.sync().ok and ws.sync().ok
    for spoke in (sh, ws):
        assert rows(spoke.db, "enterprise")[target]["address"] == "工作站填写的地址"
    with fed.hub_db.reads() as session:
        resolved = session.get(SyncConflict, conflict.id)
        assert (resolved.status, resolved.resolution) == ("resolved", "replace")
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "sync.conflict_resolved")) is not None
    assert "没有待处理的冲突" in office.get("/sync").text


def test_edits_made_before_a_spoke_learned_of_a_move_are_kept_for_the_office_and_its_decision_moves_the_file(
        fed: Federation, world: dict[str, Any], clients: Any) -> None:
    """The office gives the workstation's enterprise to Suzhou while the Shanghai sub-center, not yet told, edits it
    and takes it back to itself: nothing is refused or lost; the edits wait in conflict records, and the office's
    decision to let Shanghai have it moves the whole file there."""
    sh, sz = fed.enroll("sc-shanghai"), fed.enroll("sc-suzhou")
    assert sh.sync().ok and sz.sync().ok
    moved, person = str(world["enterprises"]["ws"]), str(world["people"]["ws"])
    office = hub_principal(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        roster.update_enterprise(session, office, world["enterprises"]["ws"], {"node": "sc-suzhou"})
    _edit_at_spoke(sh, "subcenter_sh", world["enterprises"]["ws"], {"address": "分中心离线时填写的地址"})
    _edit_at_spoke(sh, "subcenter_sh", world["enterprises"]["ws"], {"node": "sc-shanghai"})
    result = sh.sync()
    assert result.ok and result.rejected == [] and result.repaired == [] and sh.queued() == 0, result
    assert moved not in ids(sh.db, "enterprise") and person not in ids(sh.db, "person")  # Suzhou's now
    with fed.hub_db.reads() as session:
        kept = {c.field: c for c in session.scalars(select(SyncConflict).where(SyncConflict.row_id == moved))}
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "security.sync_rejected")) is None
        # Not refused, but in the trail: a spoke wrote to a row that had left its scope.
        noted = session.scalars(select(AuditEntry).where(AuditEntry.action == "sync.kept_for_review")).all()
    assert [(e.entity_type, e.entity_id, e.actor) for e in noted] == [("enterprise", moved, "node:sc-shanghai")]
    assert noted[0].detail["node"] == "sc-shanghai" and noted[0].detail["now_at"] == "sc-suzhou"
    assert noted[0].detail["fields"] == ["address", "node_id"]
    assert set(kept) == {"address", "node_id"}
    assert (kept["address"].other_value, kept["node_id"].other_value) == ("分中心离线时填写的地址", "sc-shanghai")
    assert {c.node_id for c in kept.values()} == {"sc-suzhou"}
    assert hub_rows(fed, "enterprise")[moved]["node_id"] == "sc-suzhou"
    page = clients("office").get("/sync")
    assert "分中心离线时填写的地址" in page.text
    for conflict in kept.values():
        answer = clients("office").post(f"/sync/conflicts/{conflict.id}", data={"decision": "replace"},
                                        follow_redirects=False)
        assert answer.status_code == 303
    for name, row_id in (("enterprise", moved), ("person", person), ("case_record", str(world["cases"]["ws"]))):
        assert hub_rows(fed, name)[row_id]["node_id"] == "sc-shanghai", name
    assert sz.sync().ok and sh.sync().ok
    assert moved not in ids(sz.db, "enterprise") and person not in ids(sz.db, "person")
    assert rows(sh.db, "enterprise")[moved]["address"] == "分中心离线时填写的地址"
    assert person in ids(sh.db, "person") and str(world["cases"]["ws"]) in ids(sh.db, "case_record")


def test_a_merge_by_hand_writes_the_merged_value(fed: Federation, world: dict[str, Any], clients: Any) -> None:
    sh, ws = fed.enroll("sc-shanghai"), fed.enroll("ws-demo-1")
    assert sh.sync().ok and ws.sync().ok
    target = str(world["enterprises"]["ws"])
    _edit_at_spoke(ws, "workstation_1", world["enterprises"]["ws"], {"contact_name": "陈工"})
    _edit_at_spoke(sh, "subcenter_sh", world["enterprises"]["ws"], {"contact_name": "陈建国"})
    assert ws.sync().ok and sh.sync().ok
    with fed.hub_db.reads() as session:
        conflict = session.scalars(select(SyncConflict)).one()
    office = clients("office")
    refused = office.post(f"/sync/conflicts/{conflict.id}", data={"decision": "merge", "value": " "},
                          headers={"Accept": "application/json"})
    assert refused.status_code == 422
    office.post(f"/sync/conflicts/{conflict.id}", data={"decision": "merge", "value": "陈建国（陈工）"})
    assert ws.sync().ok
    assert rows(ws.db, "enterprise")[target]["contact_name"] == "陈建国（陈工）"


def test_the_spokes_sync_page_syncs_now_and_shows_progress(fed: Federation, world: dict[str, Any]) -> None:
    import time

    from litestar.testing import TestClient

    from spoke.app import create_app as create_spoke_app
    from tests.conftest import CSRF_RE

    sh = fed.enroll("sc-shanghai")
    app = create_spoke_app(sh.settings.with_overrides(cookie_secure=False))
    app.state.hub_link = sh.link  # through the in-process hub, as the harness's spoke does
    with TestClient(app, base_url="http://sc-shanghai.test") as browser:
        # The hub is reachable through the link, so /login would go there; log in offline instead by marking it down.
        sh.link._down_until = time.monotonic() + 60  # noqa: SLF001
        form = browser.get("/login")
        csrf = CSRF_RE.search(form.text).group(1)
        browser.post("/login", data={"username": "subcenter_sh", "password": "lianfu-demo", "csrf_token": csrf, "next": "/"})
        sh.link._down_until = 0.0  # noqa: SLF001
        page = browser.get("/sync")
        assert page.status_code == 200 and "立即同步" in page.text and "从未" in page.text
        csrf = CSRF_RE.search(page.text).group(1)  # the token of the session just opened
        started = browser.post("/sync/run", headers={"HX-Request": "true", "X-CSRF-Token": csrf})
        assert started.status_code == 200 and 'id="sync-progress"' in started.text
        for _ in range(100):
            fragment = browser.get("/sync/progress", headers={"HX-Request": "true"})
            if "同步完成" in fragment.text or "同步失败" in fragment.text:
                break
            assert 'hx-trigger="every 1s"' in fragment.text  # still running: the panel keeps polling
            time.sleep(0.1)
        assert "同步完成" in fragment.text, fragment.text
        assert ids(sh.db, "enterprise") == {str(world["enterprises"][k]) for k in ("sh", "ws")}
        assert "从未" not in browser.get("/sync").text


# --- attachments ----------------------------------------------------------------------------------------------------

def _attach(spoke: Any, username: str, entity_id: Any, data: bytes, entity_type: str = "enterprise") -> Any:
    from common.attachments.blobs import BlobStore
    from common.attachments.service import add_attachment

    p = spoke.principal(username)
    with spoke.db.transaction(actor=p) as session:
        return add_attachment(session, p, BlobStore(spoke.settings.data_dir / "blobs"), entity_type, entity_id,
                              "现场照片.jpg", "image/jpeg", data)


def test_an_attachments_bytes_follow_its_row_and_reach_another_spoke_when_opened(
        fed: Federation, world: dict[str, Any]) -> None:
    from common.attachments.blobs import BlobStore
    from sync.hub_link import HubRefused
    from sync.client import SpokeSync

    sh, ws, sz = fed.enroll("sc-shanghai"), fed.enroll("ws-demo-1"), fed.enroll("sc-suzhou")
    assert ws.sync().ok
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 9000  # a little over 2 MB: sent in several chunks
    made = _attach(ws, "workstation_1", world["enterprises"]["ws"], photo)
    result = ws.sync()
    assert result.ok and result.files_sent == 1
    hub_store = fed.hub.app.state.blobs  # on disk at a SQLite hub, in its database at a PostgreSQL one
    assert hub_store.has(made.sha256) and b"".join(hub_store.read(made.sha256)) == photo
    assert sh.sync().ok and sz.sync().ok
    sh_store = BlobStore(sh.settings.data_dir / "blobs")
    assert str(made.id) in ids(sh.db, "attachment") and not sh_store.has(made.sha256)  # lazily: only when opened
    SpokeSync(sh.db, sh.link, sh.settings.data_dir, "sc-shanghai").fetch_blob(made.sha256)
    assert sh_store.path(made.sha256).read_bytes() == photo
    with pytest.raises(HubRefused) as refused:  # another sub-center: no attachment of its scope names that file
        SpokeSync(sz.db, sz.link, sz.settings.data_dir, "sc-suzhou").fetch_blob(made.sha256)
    assert refused.value.status == 404


def test_a_tampered_file_is_refused_and_an_upload_resumes(fed: Federation, world: dict[str, Any]) -> None:
    from common.migrate import head_and_previous

    ws = fed.enroll("ws-demo-1")
    assert ws.sync().ok
    photo = b"\xff\xd8\xff" + b"site photo " * 50_000
    made = _attach(ws, "workstation_1", world["enterprises"]["ws"], photo)
    with ws.db.transaction() as session:  # push the row only, not yet the bytes
        session.execute(delete(SyncOutbox).where(SyncOutbox.entity == "audit_entry"))
    from sync.client import RoundResult, SpokeSync

    sync = SpokeSync(ws.db, ws.link, ws.settings.data_dir, "ws-demo-1")
    sync.push(RoundResult())
    path = f"/api/v1/sync/blobs/{made.sha256}"
    headers = {PROTOCOL_HEADER: str(PROTOCOL), SCHEMA_HEADER: head_and_previous()[0],
               "Authorization": f"Bearer {ws.link.node_token()}"}
    forged = fed.hub.put(path, content=b"not the photo", headers={**headers, "Upload-Offset": "0", "Upload-Complete": "1"})
    assert forged.status_code == 422
    hub_store = fed.hub.app.state.blobs
    assert not hub_store.has(made.sha256) and hub_store.offset(made.sha256) == 0
    with fed.hub_db.reads() as session:
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "security.blob_refused")) is not None
    # Half the file arrives, then the connection is lost; the next round sends only the rest.
    half = len(photo) // 2
    assert fed.hub.put(path, content=photo[:half], headers={**headers, "Upload-Offset": "0"}).json()["offset"] == half
    wrong_offset = fed.hub.put(path, content=photo[half:], headers={**headers, "Upload-Offset": "5"})
    assert wrong_offset.status_code == 409 and wrong_offset.headers["upload-offset"] == str(half)
    result = ws.sync()
    assert result.ok and result.files_sent == 1
    assert b"".join(hub_store.read(made.sha256)) == photo


# --- bulletins: by their audience ----------------------------------------------------------------------------------

def test_a_warning_reaches_the_spokes_it_targets_and_no_other_and_its_acknowledgement_comes_back(
        fed: Federation) -> None:
    from common.models import BulletinAck, BulletinAudience
    from common.bulletins import service as bulletins

    sh, ws, sz = fed.enroll("sc-shanghai"), fed.enroll("ws-demo-1"), fed.enroll("sc-suzhou")
    for spoke in (sh, ws, sz):
        assert spoke.sync().ok
    office = hub_principal(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        warning = bulletins.create_bulletin(session, office, {
            "kind": "warning", "severity": "serious", "title": "电信诈骗预警", "body": "近期冒充公检法诈骗高发。",
            "targets": {"nodes": ["sc-shanghai"]}, "publish": True})
        warning_id = str(warning.id)
        news = bulletins.create_bulletin(session, office, {
            "kind": "news", "title": "警企联服简报", "body": "本月工作情况。", "targets": {"all": True}, "publish": True})
        news_id = str(news.id)
    for spoke in (sh, ws, sz):
        result = spoke.sync()
        assert result.ok and result.repaired == [], result
    assert {warning_id, news_id} <= ids(sh.db, "bulletin")
    assert warning_id not in ids(sz.db, "bulletin") and warning_id not in ids(ws.db, "bulletin")
    assert news_id in ids(sz.db, "bulletin") and news_id in ids(ws.db, "bulletin")
    with sh.db.reads() as session:  # addressed, at the spoke, to the node the hub resolved
        assert set(session.scalars(select(BulletinAudience.node_id).where(
            BulletinAudience.bulletin_id == warning.id))) == {"sc-shanghai"}
    # The drift check agrees (the digest counts bulletins by their audience, at the hub and at the spoke).
    again = sh.sync()
    assert again.ok and again.repaired == [] and again.pushed == 0, again
    # Acknowledged at the spoke: the hub sees who, for which node.
    p = sh.principal("subcenter_sh")
    with sh.db.transaction(actor=p) as session:
        bulletins.acknowledge(session, p, warning.id)
    assert sh.sync().ok
    with fed.hub_db.reads() as session:
        acks = session.scalars(select(BulletinAck).where(BulletinAck.bulletin_id == warning.id)).all()
    assert [(a.node_id, a.user_id) for a in acks] == [("sc-shanghai", p.user_id)]


def test_a_warning_retargeted_leaves_the_spokes_no_longer_addressed_and_reaches_the_new_ones(
        fed: Federation) -> None:
    """The office narrows a published warning's targets: the spokes it no longer addresses drop it (and its file) in
    their next round, as a drop rather than a repair; a spoke still addressed keeps it; addressed again, it comes
    back with its file."""
    from common.models import BulletinAck, BulletinAudience, BulletinReminder
    from common.bulletins import service as bulletins
    from common.attachments.service import add_attachment

    sh, ws, sz = fed.enroll("sc-shanghai"), fed.enroll("ws-demo-1"), fed.enroll("sc-suzhou")
    office = hub_principal(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        warning = bulletins.create_bulletin(session, office, {
            "kind": "warning", "severity": "serious", "title": "台风预警", "body": "停工避险。",
            "targets": {"nodes": ["ws-demo-1", "sc-suzhou"]}, "publish": True})
        warning_id = str(warning.id)
        assert len(bulletins.remind(session, office, warning.id)) == 2
        notice = str(add_attachment(session, office, fed.hub.app.state.blobs, "bulletin",
                                    warning.id, "台风通知.pdf", "application/pdf", b"%PDF-1.4 notice").id)
    for spoke in (sh, ws, sz):
        assert spoke.sync().ok
    assert all(warning_id in ids(spoke.db, "bulletin") for spoke in (sh, ws, sz))
    assert all(notice in ids(spoke.db, "attachment") for spoke in (sh, ws, sz))
    p = ws.principal("workstation_1")
    with ws.db.transaction(actor=p) as session:
        bulletins.acknowledge(session, p, warning.id)
    assert ws.sync().ok
    assert sh.sync().ok  # the sub-center above holds the workstation's acknowledgement too
    with fed.hub_db.transaction(actor=office) as session:
        bulletins.update_bulletin(session, office, warning.id, {"targets": {"nodes": ["sc-shanghai"]}})
    for spoke in (sh, ws, sz):
        result = spoke.sync()
        assert result.ok and result.repaired == [], (spoke.node, result)
    assert warning_id in ids(sh.db, "bulletin")
    assert notice in ids(sh.db, "attachment")
    for spoke in (ws, sz):
        assert warning_id not in ids(spoke.db, "bulletin") and notice not in ids(spoke.db, "attachment"), spoke.node
        with spoke.db.reads() as session:
            assert session.scalars(select(BulletinAudience).where(BulletinAudience.bulletin_id == warning.id)).all() == []
            # The node's own record stays: the reminder it was sent (the hub keeps it in its scope too).
            assert len(session.scalars(select(BulletinReminder).where(BulletinReminder.bulletin_id == warning.id)).all()) == 1
    with ws.db.reads() as session:
        assert len(session.scalars(select(BulletinAck).where(BulletinAck.bulletin_id == warning.id)).all()) == 1
    with sh.db.reads() as session:
        assert set(session.scalars(select(BulletinAudience.node_id).where(
            BulletinAudience.bulletin_id == warning.id))) == {"sc-shanghai"}
    # Addressed to everyone again: back at every spoke.
    with fed.hub_db.transaction(actor=office) as session:
        bulletins.update_bulletin(session, office, warning.id, {"targets": {"all": True}})
    for spoke in (sh, ws, sz):
        result = spoke.sync()
        assert result.ok and result.repaired == [], (spoke.node, result)
        assert warning_id in ids(spoke.db, "bulletin") and notice in ids(spoke.db, "attachment"), spoke.node



def test_a_warnings_file_reaches_its_spokes_and_the_digest_agrees(fed: Federation) -> None:
    from common.attachments.blobs import BlobStore
    from common.bulletins import service as bulletins
    from common.attachments.service import add_attachment
    from sync.client import SpokeSync

    sh, sz = fed.enroll("sc-shanghai"), fed.enroll("sc-suzhou")
    office = hub_principal(fed.hub_db, "office")
    notice = b"%PDF-1.4 typhoon notice"
    with fed.hub_db.transaction(actor=office) as session:
        warning = bulletins.create_bulletin(session, office, {
            "kind": "warning", "severity": "serious", "title": "台风预警", "body": "见附件。",
            "targets": {"nodes": ["sc-shanghai"]}, "publish": True})
        attached = add_attachment(session, office, fed.hub.app.state.blobs, "bulletin",
                                  warning.id, "台风通知.pdf", "application/pdf", notice)
    for spoke in (sh, sz, sh, sz):
        result = spoke.sync()
        assert result.ok and result.repaired == [], (spoke.node, result)
    assert str(attached.id) in ids(sh.db, "attachment") and str(attached.id) not in ids(sz.db, "attachment")
    SpokeSync(sh.db, sh.link, sh.settings.data_dir, "sc-shanghai").fetch_blob(attached.sha256)
    assert BlobStore(sh.settings.data_dir / "blobs").path(attached.sha256).read_bytes() == notice


def test_after_a_round_the_marks_show_nothing_new_so_the_next_round_is_answered_from_them(fed: Federation) -> None:
    """The quiet round's test: the marks kept by the triggers, against the cursors the spoke saved, say "nothing
    after" for every entity (bulletins included) — and stop saying it as soon as the office writes something."""
    from common.bulletins import service as bulletins
    from sync import hub
    from sync.client import read_state

    sh = fed.enroll("sc-shanghai")
    office = hub_principal(fed.hub_db, "office")
    with fed.hub_db.transaction(actor=office) as session:
        bulletins.create_bulletin(session, office, {"kind": "news", "title": "简报", "body": "内容。",
                                                    "targets": {"all": True}, "publish": True})
    assert sh.sync().ok

    def quiet() -> bool:
        with sh.db.reads() as session:
            cursors = {name: value[:2] for name, value in read_state(session, "cursors").items()}
        with fed.hub_db.reads() as session:
            return hub.read_marks(session, hub.spoke_principal(session, "sc-shanghai")).nothing_after(cursors)

    assert quiet()
    with fed.hub_db.transaction(actor=office) as session:
        bulletins.create_bulletin(session, office, {"kind": "warning", "title": "预警", "body": "内容。",
                                                    "targets": {"nodes": ["sc-suzhou"]}, "publish": True})
    assert not quiet()  # a bulletin somewhere: the pull must look (and finds nothing for Shanghai)
    assert sh.sync().ok
    assert quiet()  # looked: its cursor passed it
    with fed.hub_db.transaction(actor=office) as session:
        roster.update_enterprise(session, office, uuid.UUID(next(iter(ids(sh.db, "enterprise")))), {"notes": "新情况"})
    assert not quiet()
    assert sh.sync().ok and quiet()


def test_the_marks_carry_the_peer_row_so_a_quiet_round_noted_a_moment_ago_writes_nothing(fed: Federation) -> None:
    """The marks statement reads the spoke's peer row too: a quiet round that would note what the row already says,
    less than PEER_REFRESH seconds ago, writes nothing; anything different, or an older note, is written."""
    from dataclasses import replace
    from datetime import timedelta

    from common.models import SyncPeer
    from sync import hub
    from sync.hub.peers import PEER_REFRESH, round_noted, round_values

    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok and sh.sync().ok
    with fed.hub_db.reads() as session:
        row = session.get(SyncPeer, "sc-shanghai")
        assert row is not None and row.digest_ok is True and row.last_success_at is not None and row.schema
        note = hub.read_marks(session, hub.spoke_principal(session, "sc-shanghai")).peer
    assert note is not None
    assert (note.last_success_at, note.queued, note.lag_seconds, note.schema, note.digest_ok) == \
        (row.last_success_at, row.queued, row.lag_seconds, row.schema, True)
    same = round_values(row.schema, row.queued, row.lag_seconds, [])
    assert round_noted(note, same)
    assert not round_noted(note, round_values(row.schema, row.queued + 1, row.lag_seconds, []))
    assert not round_noted(note, round_values(row.schema, row.queued, row.lag_seconds + 5, []))
    assert not round_noted(note, round_values(row.schema, row.queued, row.lag_seconds, ["person"]))
    stale = replace(note, last_success_at=row.last_success_at - timedelta(seconds=PEER_REFRESH + 1))
    assert not round_noted(stale, same)
    assert not round_noted(None, same)


def test_lianfu_sync_status_shows_times_in_beijing_time() -> None:
    from sync.cli import beijing_time

    assert beijing_time("2026-12-07T12:00:00+00:00") == "2026-12-07 20:00:00 +08:00"
    assert beijing_time("2026-12-07T23:30:05.123456") == "2026-12-08 07:30:05 +08:00"  # stored without its offset: UTC
    assert beijing_time("never") == "never"
