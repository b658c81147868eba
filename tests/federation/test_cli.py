"""The `lianfu` command from outside: help everywhere, one-line refusals, accounts, demo data, codes."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from common.db import Database
from common.models import AuditEntry, Case, EnrollmentCode, Enterprise, Person, User, Visit
from common.identity.passwords import verify_password
from common.federation.service import hash_code
from common.validation import validate_credit_code, validate_id_number


def lianfu(*args: str, data_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"LIANFU_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "common.cli_entry", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.mark.parametrize("command", [[], ["hub"], ["hub", "serve"], ["hub", "migrate"], ["hub", "create-user"],
                                     ["hub", "seed-demo"], ["hub", "enrollment-code"], ["hub", "audit", "verify"], ["demo"]])
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    result = lianfu(*command, "--help", data_dir=tmp_path)
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_seed_demo_makes_the_contract_accounts_and_valid_data(tmp_path: Path) -> None:
    result = lianfu("hub", "seed-demo", "--enterprises", "120", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    database = Database.connect(f"sqlite:///{tmp_path / 'lianfu.db'}")
    with database.reads() as session:
        users = {u.username: u for u in session.scalars(select(User))}
        assert set(users) == {"office", "leader", "liaison_xz", "liaison_jz", "subcenter_sh", "subcenter_sz", "workstation_1"}
        assert users["leader"].is_leader and users["liaison_xz"].unit_id == "criminal-investigation"
        assert users["liaison_jz"].unit_id == "economic-crime" and users["workstation_1"].node_id == "ws-demo-1"
        assert users["subcenter_sz"].node_id == "sc-suzhou" and users["workstation_1"].role == "enterprise"
        assert verify_password(users["office"].password_hash, "lianfu-demo")
        enterprises = session.scalars(select(Enterprise)).all()
        assert len(enterprises) == 120
        for e in enterprises:
            assert validate_credit_code(e.credit_code) == e.credit_code
            assert e.name.startswith("启东")
        assert len({e.credit_code for e in enterprises}) == 120
        # Every name is found by its pinyin, the workstation's renamed host too (typing "jg" finds 启东建工…).
        from common.roster.service import name_pinyin
        assert all(e.name_pinyin == name_pinyin(e.name) for e in enterprises)
        assert {e.node_id for e in enterprises} >= {"sc-shanghai", "sc-suzhou", "ws-demo-1", "hub"}
        for person in session.scalars(select(Person)):
            assert validate_id_number(person.id_number) == person.id_number
            assert person.id_number[14:17].startswith("9")  # order codes 900–999: plainly fictitious
        statuses = set(session.scalars(select(Case.status)))
        assert len(statuses) >= 4
        assert session.scalar(select(func.count()).select_from(Visit)) > 0
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "seed-demo")).first() is not None
    database.dispose()


def test_create_user_and_its_refusals(tmp_path: Path) -> None:
    ok = lianfu("hub", "create-user", "liaison_ps", "--role", "liaison", "--unit", "ps-huilong", "--password-stdin",
                data_dir=tmp_path, stdin="Huilong-2026!\n")
    assert ok.returncode == 0, ok.stderr
    refusals = [
        (["zz", "--role", "liaison", "--password-stdin"], "unit"),
        (["zz", "--role", "liaison", "--unit", "no-such-unit", "--password-stdin"], "no such unit"),
        (["zz", "--role", "subcenter", "--password-stdin"], "--node"),
        (["zz", "--role", "subcenter", "--node", "sc-nowhere", "--password-stdin"], "no such node"),
        (["liaison_ps", "--role", "liaison", "--unit", "traffic", "--password-stdin"], "already exists"),
        (["zz", "--role", "warden", "--password-stdin"], "Invalid value"),
    ]
    for args, reason in refusals:
        result = lianfu("hub", "create-user", *args, data_dir=tmp_path, stdin="Huilong-2026!\n")
        assert result.returncode != 0 and reason in result.stderr, (args, result.stderr)
    weak = lianfu("hub", "create-user", "weak", "--role", "office", "--password-stdin", data_dir=tmp_path, stdin="short\n")
    assert weak.returncode != 0 and "10 characters" in weak.stderr
    # No password at all: a one-time link where the person sets their own.
    linked = lianfu("hub", "create-user", "office_two", "--role", "office", "--setup-link", data_dir=tmp_path)
    assert linked.returncode == 0, linked.stderr
    assert linked.stdout.strip().splitlines()[-1].startswith("/setup/")
    database = Database.connect(f"sqlite:///{tmp_path / 'lianfu.db'}")
    with database.reads() as session:
        assert [u.username for u in session.scalars(select(User).order_by(User.username))] == ["liaison_ps", "office_two"]
        assert session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "user")).first() is not None
    database.dispose()


def test_enrollment_code_is_one_time_material_stored_as_a_hash(tmp_path: Path) -> None:
    assert lianfu("hub", "seed-demo", "--enterprises", "5", data_dir=tmp_path).returncode == 0
    result = lianfu("hub", "enrollment-code", "sc-suzhou", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    code = result.stdout.strip()
    assert len(code) >= 20
    database = Database.connect(f"sqlite:///{tmp_path / 'lianfu.db'}")
    with database.reads() as session:
        row = session.get(EnrollmentCode, hash_code(code))
        assert row is not None and row.node_id == "sc-suzhou" and row.used_at is None
        assert timedelta(hours=1) < row.expires_at - row.created_at <= timedelta(days=7)
        assert session.scalar(select(func.count()).select_from(EnrollmentCode).where(EnrollmentCode.code_hash == code)) == 0
    database.dispose()
    for node in ("hub", "sc-nowhere"):
        refused = lianfu("hub", "enrollment-code", node, data_dir=tmp_path)
        assert refused.returncode != 0 and refused.stderr.startswith("error:")
