"""One rule layer: a sync push is held to the rules the API keeps (workflow fields, the account's own actor fields,
police-only fields, a row agreeing with its parent); a refused row is named and recorded, the rest applies."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from common import rules
from common.clock import clock
from common.models import AuditEntry
from sync.entities import ENTITIES
from sync.wire import Change, PushBatch
from tests.sync_support import Federation, new_uuid, rows
from tests.sync.test_sync import _made_enterprise, _push, fed, hub_rows  # noqa: F401 - `fed` is the federation fixture

NOW = "2026-11-20T08:00:00+00:00"


def _events(fed: Federation, action: str) -> list[AuditEntry]:
    with fed.hub_db.reads() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def _application(node: str, actor: str, **values: Any) -> Change:
    row = {"id": new_uuid(), "node_id": node, "kind": "workstation", "name": "启东推送工作站", "region_code": "310115",
           "parent_node": "sc-shanghai", "host_enterprise_id": None, "head_name": "赵站长", "head_phone": "13900000009",
           "reason": "", "background": "", "status": "submitted", "submitted_by": actor, "decided_by": None,
           "decided_at": None, "decision_comment": "", "created_node": None, "created_at": NOW, "deleted_at": None,
           **values}
    return Change("node_application", row["id"], row, made=True, actor=actor)


def _refused(answer: Any) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {r["id"]: r["reason"] for r in answer.json()["rejected"]}


def test_a_spoke_cannot_approve_its_own_application(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    actor = str(world["users"]["subcenter_sh"])
    approved = _application("sc-shanghai", actor, status="approved", decided_by=actor, decided_at=NOW)
    fine = _application("sc-shanghai", actor, name="启东推送第二工作站")
    existing = str(world["applications"]["sh"])
    stamp = [clock.now(), "sc-shanghai"]
    self_approval = Change("node_application", existing, {"status": "approved"}, fv={"status": stamp},
                           prior={"status": None}, actor=actor)
    before = hub_rows(fed, "node_application")
    refused = _refused(_push(fed, sh, PushBatch("apps", [approved, fine, self_approval], upto=3)))
    assert set(refused) == {approved.id, existing}
    assert "workflow" in refused[approved.id] and "workflow" in refused[existing]
    after = hub_rows(fed, "node_application")
    assert after[existing] == before[existing] and after[existing]["status"] == "submitted"
    assert approved.id not in after and after[fine.id]["status"] == "submitted"
    assert {e.entity_id: e.detail["rule"] for e in _events(fed, "security.sync_rejected")} == {
        approved.id: "workflow", existing: "workflow"}


def test_an_events_actor_is_the_account_not_what_the_spoke_says(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    actor = str(world["users"]["subcenter_sh"])
    event = new_uuid()
    forged = Change("case_event", event, {
        "id": event, "case_id": str(world["cases"]["sh"]), "node_id": "sc-shanghai", "kind": "comment",
        "note": "我是领导", "actor_id": str(world["users"]["leader"]), "actor_role": "office", "actor_unit": None,
        "actor_leader": True, "at": NOW, "created_at": NOW, "deleted_at": None}, made=True, actor=actor)
    assert _refused(_push(fed, sh, PushBatch("actor", [forged], upto=1))) == {}
    held = hub_rows(fed, "case_event")[event]
    assert (held["actor_role"], held["actor_leader"], str(held["actor_id"])) == ("subcenter", False, actor)
    assert [e.detail["fields"] for e in _events(fed, "security.sync_stamped")] == [
        ["actor_id", "actor_leader", "actor_role"]]
    # The hub's row, not the forged one, is what the spoke holds after its next round.
    assert sh.sync().ok
    assert rows(sh.db, "case_event")[event]["actor_role"] == "subcenter"


def test_a_file_cannot_be_hung_on_another_nodes_row(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    actor = str(world["users"]["subcenter_sh"])

    def attachment(entity_type: str, entity_id: Any) -> Change:
        row = {"id": new_uuid(), "node_id": "sc-shanghai", "sha256": "ab" * 32, "size": 10, "content_type": "image/png",
               "filename": "x.png", "entity_type": entity_type, "entity_id": str(entity_id), "created_at": NOW,
               "deleted_at": None}
        return Change("attachment", row["id"], row, made=True, actor=actor)

    on_bulletin = attachment("bulletin", world["bulletins"]["all"])
    on_suzhou_case = attachment("case", world["cases"]["sz"])
    on_nothing = attachment("visit", new_uuid())
    own = attachment("visit", world["visits"]["sh"])
    refused = _refused(_push(fed, sh, PushBatch("files", [on_bulletin, on_suzhou_case, on_nothing, own], upto=4)))
    assert set(refused) == {on_bulletin.id, on_suzhou_case.id, on_nothing.id}
    assert all("parent" in reason for reason in refused.values())
    assert set(hub_rows(fed, "attachment")) == {own.id}


def test_a_person_is_where_their_enterprise_is(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    actor = str(world["users"]["subcenter_sh"])

    def person(enterprise: Any) -> Change:
        row = {"id": new_uuid(), "node_id": "sc-shanghai", "enterprise_id": str(enterprise), "name": "钱某",
               "id_number": "", "phone": "", "position": "", "created_at": NOW, "deleted_at": None}
        return Change("person", row["id"], row, made=True, actor=actor)

    on_suzhou = person(world["enterprises"]["sz"])
    own = person(world["enterprises"]["sh"])
    # A person of the workstation's enterprise, sent as the sub-center's: goes where the enterprise is.
    below = person(world["enterprises"]["ws"])
    refused = _refused(_push(fed, sh, PushBatch("people", [on_suzhou, own, below], upto=3)))
    assert set(refused) == {on_suzhou.id} and "parent" in refused[on_suzhou.id]
    people = hub_rows(fed, "person")
    assert on_suzhou.id not in people and people[own.id]["node_id"] == "sc-shanghai"
    assert people[below.id]["node_id"] == "ws-demo-1"
    # Moving a person away from their enterprise's node is refused too.
    stamp = [clock.now(), "sc-shanghai"]
    move = Change("person", own.id, {"node_id": "ws-demo-1"}, fv={"node_id": stamp}, prior={"node_id": None}, actor=actor)
    assert set(_refused(_push(fed, sh, PushBatch("move", [move], upto=4)))) == {own.id}
    assert hub_rows(fed, "person")[own.id]["node_id"] == "sc-shanghai"


def test_only_the_police_set_an_enterprises_risk_and_key_flag(fed: Federation, world: dict[str, Any],
                                                              clients: Any) -> None:
    ws = fed.enroll("ws-demo-1")
    assert ws.sync().ok
    actor = str(world["users"]["workstation_1"])
    own = str(world["enterprises"]["ws"])
    office = clients("office")
    assert office.patch(f"/api/v1/enterprises/{own}", json={"risk_level": "high", "is_key": True}).status_code == 200
    stamp = [clock.now(), "ws-demo-1"]
    lower = Change("enterprise", own, {"risk_level": "low", "is_key": False},
                   fv={"risk_level": stamp, "is_key": stamp}, prior={"risk_level": None, "is_key": None}, actor=actor)
    address = Change("enterprise", own, {"address": "新地址1号"}, fv={"address": stamp}, prior={"address": None},
                     actor=actor)
    refused = _refused(_push(fed, ws, PushBatch("risk", [lower, address], upto=2)))
    assert list(refused) == [own] and "police_only" in refused[own]
    held = hub_rows(fed, "enterprise")[own]
    assert (held["risk_level"], held["is_key"], held["address"]) == ("high", True, "新地址1号")
    # The same rule through the API and for a new enterprise.
    workstation = clients("workstation_1")
    refused_api = workstation.patch(f"/api/v1/enterprises/{own}", json={"risk_level": "low"})
    assert refused_api.status_code == 403
    sub = clients("subcenter_sh")
    made = _made_enterprise(ws, "sc-shanghai", str(world["users"]["subcenter_sh"]), 31)
    assert sub.post("/api/v1/enterprises", json={"name": "启东关键企业", "credit_code": made.values["credit_code"],
                                                 "region_code": "310115", "is_key": True}).status_code == 403
    assert hub_rows(fed, "enterprise")[own]["risk_level"] == "high"


def test_every_synced_table_has_write_rules() -> None:
    assert {e.name for e in ENTITIES} <= set(rules.RULES)
    with pytest.raises(LookupError):
        rules.rules_for("a_table_nobody_wrote_rules_for")


def test_a_node_acknowledges_only_the_bulletins_addressed_to_it(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    actor = str(world["users"]["subcenter_sh"])

    def ack(bulletin: Any) -> Change:
        row = {"id": new_uuid(), "node_id": "sc-shanghai", "bulletin_id": str(bulletin), "user_id": actor, "at": NOW,
               "created_at": NOW, "deleted_at": None}
        return Change("bulletin_ack", row["id"], row, made=True, actor=actor)

    to_all, to_suzhou = ack(world["bulletins"]["all"]), ack(world["bulletins"]["sz"])
    refused = _refused(_push(fed, sh, PushBatch("acks", [to_all, to_suzhou], upto=2)))
    assert set(refused) == {to_suzhou.id}
    assert set(hub_rows(fed, "bulletin_ack")) == {to_all.id}


def test_a_pushed_visit_is_bounded_as_the_api_bounds_it(fed: Federation, world: dict[str, Any]) -> None:
    sh = fed.enroll("sc-shanghai")
    assert sh.sync().ok
    actor = str(world["users"]["subcenter_sh"])
    visit = str(world["visits"]["sh"])
    stamp = [clock.now(), "sc-shanghai"]
    hazards = Change("visit", visit, {"hazards": [{"description": "隐患", "severity": "low"}] * 20_000},
                     fv={"hazards": stamp}, prior={"hazards": None}, actor=actor)
    checklist = Change("visit", visit, {"checklist": {"k": "x" * (5 << 20)}}, fv={"checklist": stamp},
                       prior={"checklist": None}, actor=actor)
    findings = Change("visit", visit, {"findings": "查" * 100_000}, fv={"findings": stamp}, prior={"findings": None},
                      actor=actor)
    before = hub_rows(fed, "visit")[visit]
    for n, change in enumerate((hazards, checklist, findings)):
        assert set(_refused(_push(fed, sh, PushBatch(f"big-{n}", [change], upto=n + 1)))) == {visit}
    assert hub_rows(fed, "visit")[visit] == before
