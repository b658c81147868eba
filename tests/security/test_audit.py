"""The audit trail: every change and login is recorded, and the hash chain exposes edits and deletions."""
from __future__ import annotations

import subprocess
import sys
from typing import Any

from sqlalchemy import delete, func, select, update

from common.audit import trail as audit
from common.db import Database
from common.models import AuditEntry, AuditHead


def _actions(db: Database) -> dict[str, str]:
    with db.reads() as session:
        return {str(i): a for i, a in session.execute(select(AuditEntry.id, AuditEntry.action))}


def test_writes_and_logins_are_audited_and_the_chain_verifies(clients: Any, db: Database, world: dict[str, Any]) -> None:
    before = _actions(db)
    bad = clients()
    bad.fetch_csrf()
    bad.post("/login", data={"username": "office", "password": "wrong-password", "csrf_token": bad.csrf})
    bad.post("/login", data={"username": "nobody", "password": "whatever-123", "csrf_token": bad.csrf})
    office = clients("office")
    created = office.post("/api/v1/bulletins", json={"kind": "warning", "title": "台风预警", "body": "注意防范", "targets": {"all": True}})
    assert created.status_code == 201
    office.patch(f"/api/v1/bulletins/{created.json()['id']}", json={"title": "台风橙色预警"})
    office.delete(f"/api/v1/bulletins/{created.json()['id']}")
    actions = [a for i, a in _actions(db).items() if i not in before]
    assert actions.count("login.fail") == 2 and "login.ok" in actions
    assert {"create", "update", "delete"} <= set(actions)
    with db.reads() as session:
        fail = session.scalars(select(AuditEntry).where(AuditEntry.action == "login.fail")).first()
        assert fail.actor in ("office", "nobody") and fail.address
        assert list(audit.verify(session)) == []


def test_sensitive_values_never_enter_the_trail(clients: Any, db: Database, world: dict[str, Any]) -> None:
    office = clients("office")
    person = world["people"]["sh"]
    assert office.patch(f"/api/v1/people/{person}", json={"phone": "13912345678"}).status_code == 200
    with db.reads() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == str(person), AuditEntry.action == "update")).one()
    assert entry.detail["changed"]["phone"] == ["***", "***"]
    assert "13912345678" not in str(entry.detail)


def test_an_edited_entry_is_detected(db: Database, world: dict[str, Any]) -> None:
    with db.transaction() as session:
        victim = session.scalars(select(AuditEntry).where(AuditEntry.node_id == "hub").order_by(AuditEntry.seq).offset(3)).first()
        session.execute(update(AuditEntry).where(AuditEntry.id == victim.id).values(actor="someone-else"))
    with db.reads() as session:
        breaks = list(audit.verify(session))
    assert breaks and breaks[0].seq == victim.seq and breaks[0].entry_id == str(victim.id)
    assert "hash" in breaks[0].reason


def test_a_deleted_entry_is_detected(db: Database, world: dict[str, Any]) -> None:
    with db.transaction() as session:
        victim = session.scalars(select(AuditEntry).where(AuditEntry.node_id == "hub").order_by(AuditEntry.seq).offset(2)).first()
        session.execute(delete(AuditEntry).where(AuditEntry.id == victim.id))
    with db.reads() as session:
        breaks = list(audit.verify(session))
    assert breaks[0].seq == victim.seq and "missing" in breaks[0].reason


def test_a_truncated_chain_is_detected(db: Database, world: dict[str, Any]) -> None:
    with db.transaction() as session:
        last = session.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.node_id == "hub"))
        session.execute(delete(AuditEntry).where(AuditEntry.node_id == "hub", AuditEntry.seq == last))
    with db.reads() as session:
        breaks = list(audit.verify(session))
    assert breaks and "end of the chain" in breaks[0].reason
    with db.reads() as session:
        assert session.get(AuditHead, "hub").seq == last


def test_cli_verify_exits_nonzero_naming_the_first_broken_entry(db: Database, world: dict[str, Any], settings: Any) -> None:
    command = [sys.executable, "-m", "common.cli_entry", "hub", "audit", "verify", "--db", settings.database_url]
    ok = subprocess.run(command, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout
    with db.transaction() as session:
        victim = session.scalars(select(AuditEntry).where(AuditEntry.node_id == "hub").order_by(AuditEntry.seq).offset(5)).first()
        session.execute(update(AuditEntry).where(AuditEntry.id == victim.id).values(detail={"forged": True}))
    broken = subprocess.run(command, capture_output=True, text=True)
    assert broken.returncode != 0
    assert f"entry {victim.seq}" in broken.stderr and str(victim.id) in broken.stderr
