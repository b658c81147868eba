"""Backup and restore as an operator runs them, and the drill: a hub on PostgreSQL restored from an older backup is
healed by its spokes, which sync on without enrolling again.

A restore brings the hub back to the backup's moment: what its spokes hold of their scopes comes back from them; what
was written at the hub alone after the backup (outside every spoke's scope) is lost, as the guide says.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from common.attachments.blobs import BlobStore
from common.audit.trail import chain_key
from common.db import Database
from common.models import AuditEntry, User
from common.policy import load_principal
from common.roster import service as roster
from common.validation import make_credit_code
from sync import capture
from tests.conftest import pg_database, worker_id
from tests.live_federation import Federation
from tests.live_hub import LIANFU, ROOT, _environment
from tests.sync_support import rows

SCOPES = {"sc-shanghai": {"sc-shanghai", "ws-demo-1"}, "ws-demo-1": {"ws-demo-1"}}
# The rows a spoke holds of its scope and compares with the hub's, field by field.
COMPARED = ("enterprise", "person", "visit", "case_record", "case_event", "attachment", "task", "info_report")


def _principal(db: Database, username: str) -> Any:
    with db.reads() as session:
        return load_principal(session, session.scalars(select(User).where(User.username == username)).one())


def _enterprise(n: int, node: str | None = None) -> dict[str, Any]:
    data = {"name": f"启东备份演练{n}号机械有限公司", "credit_code": make_credit_code("9", "1", "310115", f"{n + 9000:08d}"),
            "region_code": "310115", "industry": "manufacturing"}
    if node:
        data["node"] = node
    return data


def _spoke_db(fed: Federation, node: str) -> Database:
    return capture.spoke_database(f"sqlite:///{fed.spoke_dir(node) / 'lianfu.db'}", node)


def _hub_db(fed: Federation, url: str) -> Database:
    key = (fed.hub_dir / "secret_key").read_text().strip()
    db = Database.connect(url, audit_key=chain_key(key))
    capture.install(db, "hub", outbox=False)
    return db


def _hub_store(fed: Federation, url: str, hub_db: Database) -> Any:
    from common.attachments.dbblobs import blob_store_for
    from common.settings import Settings

    return blob_store_for(Settings(role="hub", node_id="hub", data_dir=fed.hub_dir, db_url=url, cookie_secure=False),
                          hub_db)


def _sync(fed: Federation, node: str) -> dict[str, Any]:
    run = fed.run_sync(node)
    assert run.returncode == 0, run.output()
    return run


def _write_at_subcenter(fed: Federation, edit: uuid.UUID, photo: bytes) -> tuple[str, str, str]:
    """At the sub-center's spoke: an enterprise made, one of its workstation's edited with a file attached; the new
    enterprise's id, the file's row id and its sha256."""
    from common.attachments.service import add_attachment

    db = _spoke_db(fed, "sc-shanghai")
    try:
        p = _principal(db, "subcenter_sh")
        with db.transaction(actor=p) as session:
            made = str(roster.create_enterprise(session, p, _enterprise(1)).id)
            roster.update_enterprise(session, p, edit, {"address": "启东市演练路 2 号"})
        with db.transaction(actor=p) as session:
            attached = add_attachment(session, p, BlobStore(fed.spoke_dir("sc-shanghai") / "blobs"), "enterprise",
                                      edit, "现场照片.jpg", "image/jpeg", photo)
            return made, str(attached.id), attached.sha256
    finally:
        db.dispose()


def _visible_enterprise(fed: Federation) -> str:
    """An enterprise the sub-center sees at its spoke, its workstation's if it sees one."""
    from common import policy
    from common.models import Enterprise

    db = _spoke_db(fed, "sc-shanghai")
    try:
        p = _principal(db, "subcenter_sh")
        with db.reads() as session:
            found = session.execute(select(Enterprise.id, Enterprise.node_id).where(policy.visible(Enterprise, p))).all()
    finally:
        db.dispose()
    assert found, "the sub-center's spoke holds no enterprise"
    return str(sorted(found, key=lambda row: row.node_id != "ws-demo-1")[0].id)


def _write_at_workstation(fed: Federation) -> str:
    """At the workstation's spoke: a risk report."""
    from common.inforeports.service import create_report

    db = _spoke_db(fed, "ws-demo-1")
    try:
        p = _principal(db, "workstation_1")
        with db.transaction(actor=p) as session:
            return str(create_report(session, p, {"title": "演练：厂区消防通道堵塞", "category": "other"}).id)
    finally:
        db.dispose()


def _assert_hub_holds_each_spokes_scope(fed: Federation, hub_db: Database) -> None:
    for node, scope in SCOPES.items():
        db = _spoke_db(fed, node)
        try:
            for name in COMPARED:
                hub = {k: v for k, v in rows(hub_db, name).items() if v["node_id"] in scope}
                assert rows(db, name) == hub, (node, name)
            # Its own trail is at the hub, every entry of it.
            theirs = set(rows(db, "audit_entry"))
            mine = {k for k, v in rows(hub_db, "audit_entry").items() if v["node_id"] == node}
            assert theirs <= mine, (node, len(theirs - mine))
        finally:
            db.dispose()


@pytest.mark.postgresql
def test_a_hub_restored_from_an_older_backup_is_healed_by_its_spokes(tmp_path: Path) -> None:
    url = pg_database(f"lianfu_drill_{worker_id()}")
    fed = Federation(enterprises=6)
    fed.hub_env["LIANFU_DB"] = url
    with fed:
        for node in SCOPES:
            fed.enroll(node)
            _sync(fed, node)
        hub_db = _hub_db(fed, url)
        try:
            office = _principal(hub_db, "office")
            edited = _visible_enterprise(fed)

            backup = tmp_path / "hub.lianfu-backup"
            done = fed.run_hub_command("backup", "--to", str(backup))
            assert "backup written" in done.stdout
            assert backup.stat().st_mode & 0o777 == 0o600

            # After the backup: both spokes write (one a file too) and sync; the office writes at the hub.
            sh_made, sh_file, sha = _write_at_subcenter(fed, uuid.UUID(edited), b"\xff\xd8\xff\xe0drill photo bytes")
            ws_report = _write_at_workstation(fed)
            with hub_db.transaction(actor=office) as session:
                in_scope = str(roster.create_enterprise(session, office, _enterprise(3, "sc-shanghai")).id)
                hub_only = str(roster.create_enterprise(session, office, _enterprise(4, "sc-suzhou")).id)
            for node in ("ws-demo-1", "sc-shanghai", "ws-demo-1"):
                _sync(fed, node)
            hub_store = _hub_store(fed, url, hub_db)  # (in the database, a PostgreSQL hub's default)
            assert sha is not None and hub_store.has(sha)
            held = rows(hub_db, "enterprise")
            assert {sh_made, in_scope, hub_only} <= set(held) and sh_file in rows(hub_db, "attachment")
            assert ws_report in rows(hub_db, "info_report")

            # Not while the hub serves this database: it would go on writing into the restored one.
            with pytest.raises(AssertionError, match="a hub is serving this database") as serving:
                fed.run_hub_command("restore", "--from", str(backup), "--yes")
            assert "Traceback" not in str(serving.value) and held == rows(hub_db, "enterprise")
            # Stopped cleanly, it says so at once: the restore need not wait for it to fall silent.
            fed.stop_hub()
            hub_db.dispose()
            if isinstance(hub_store, BlobStore):
                hub_store.path(sha).unlink()  # the files on disk are as old as the backup too
            done = fed.run_hub_command("restore", "--from", str(backup), "--yes")
            assert "hub restored" in done.stdout
            lost = rows(hub_db, "enterprise")
            assert not _hub_store(fed, url, hub_db).has(sha)
            assert not {sh_made, in_scope, hub_only} & set(lost) and sh_file not in rows(hub_db, "attachment")
            assert ws_report not in rows(hub_db, "info_report")
            verified = fed.run_hub_command("audit", "verify")
            assert "intact" in verified.stdout
            fed.start_hub()

            # Every spoke syncs on, without enrolling again: it heals the hub first.
            for node in ("ws-demo-1", "sc-shanghai", "ws-demo-1", "sc-shanghai"):
                _sync(fed, node)
            hub_store = _hub_store(fed, url, hub_db)
            held = rows(hub_db, "enterprise")
            assert {sh_made, in_scope} <= set(held) and sh_file in rows(hub_db, "attachment")
            assert ws_report in rows(hub_db, "info_report")
            assert held[edited]["address"] == "启东市演练路 2 号"
            # Written at the hub alone after the backup, held by no spoke: lost with the restore.
            assert hub_only not in held
            assert hub_store.has(sha)
            _assert_hub_holds_each_spokes_scope(fed, hub_db)
            with hub_db.reads() as session:
                heals = session.scalars(select(AuditEntry).where(AuditEntry.action == "sync.healed")).all()
            assert sorted(entry.detail["node"] for entry in heals) == sorted(SCOPES)
            assert all(entry.detail["sent"] > 0 for entry in heals)
            assert sum(entry.detail["added"] for entry in heals) >= 3
            verified = fed.run_hub_command("audit", "verify")
            assert "intact" in verified.stdout
        finally:
            hub_db.dispose()


def _lianfu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LIANFU, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_a_sqlite_hub_goes_round_trip_and_a_damaged_backup_changes_nothing(tmp_path: Path) -> None:
    env = _environment(tmp_path / "hub")
    assert _lianfu(env, "hub", "seed-demo", "--enterprises", "3").returncode == 0
    blobs = BlobStore(tmp_path / "hub" / "blobs")
    sha = blobs.put(b"\xff\xd8\xff\xe0a hub file")
    backup = tmp_path / "hub.backup"
    done = _lianfu(env, "hub", "backup", "--to", str(backup))
    assert done.returncode == 0, done.stderr
    with tarfile.open(backup) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["kind"] == "hub" and manifest["db"] == "sqlite" and manifest["schema"]
    assert {"database.sqlite", "data/secret_key", f"data/blobs/{sha[:2]}/{sha}"} <= set(manifest["parts"])

    # Changed after the backup: a new enterprise, the file gone, the key replaced.
    url = f"sqlite:///{tmp_path / 'hub' / 'lianfu.db'}"
    db = Database.connect(url)
    try:
        p = _principal(db, "office")
        with db.transaction(actor=p) as session:
            later = str(roster.create_enterprise(session, p, _enterprise(7)).id)
    finally:
        db.dispose()
    blobs.path(sha).unlink()
    key = (tmp_path / "hub" / "secret_key").read_text()

    assert later in rows(Database.connect(url), "enterprise")

    # A damaged copy: refused whole, nothing changed.
    damaged = tmp_path / "damaged.backup"
    raw = bytearray(backup.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    before = (tmp_path / "hub" / "lianfu.db").read_bytes()
    refused = _lianfu(env, "hub", "restore", "--from", str(damaged), "--yes")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert (tmp_path / "hub" / "lianfu.db").read_bytes() == before
    assert not blobs.has(sha)

    # As CONTRACT.md writes it, from a script (no terminal to ask on): the database is replaced.
    done = _lianfu(env, "hub", "restore", "--from", str(backup))
    assert done.returncode == 0, done.stderr
    db = Database.connect(url)
    try:
        assert later not in rows(db, "enterprise")
        with db.reads() as session:
            assert session.scalars(select(AuditEntry).where(AuditEntry.action == "hub.restored")).one()
    finally:
        db.dispose()
    assert blobs.has(sha) and (tmp_path / "hub" / "secret_key").read_text() == key
    verified = _lianfu(env, "hub", "audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stderr


def test_a_backup_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    env = _environment(tmp_path / "hub")
    assert _lianfu(env, "hub", "migrate").returncode == 0
    newer = tmp_path / "newer.backup"
    manifest = json.dumps({"format": 1, "kind": "hub", "db": "sqlite", "schema": "9999_from_the_future",
                           "version": "99", "created_at": "2030-01-01T00:00:00+00:00", "parts": {}}).encode()
    with tarfile.open(newer, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    refused = _lianfu(env, "hub", "restore", "--from", str(newer), "--yes")
    assert refused.returncode != 0 and "newer" in refused.stderr and "Traceback" not in refused.stderr


def test_a_spoke_backup_holds_its_database_and_data_dir(tmp_path: Path) -> None:
    fed = Federation(enterprises=3)
    with fed:
        fed.enroll("sc-shanghai")
        target = tmp_path / "spoke.backup"
        env = fed.spoke_environment("sc-shanghai")
        done = _lianfu(env, "spoke", "backup", "--to", str(target))
        assert done.returncode == 0, done.stderr
        assert target.stat().st_mode & 0o777 == 0o600
        with tarfile.open(target) as tar:
            names = set(tar.getnames())
            tar.extractall(tmp_path / "out", filter="data")
        assert "data/lianfu.db" in names and "manifest.json" in names
        spoke_files = {f"data/{p.relative_to(fed.spoke_dir('sc-shanghai')).as_posix()}"
                       for p in fed.spoke_dir("sc-shanghai").rglob("*") if p.is_file()}
        assert {n for n in spoke_files if not n.startswith("data/lianfu.db") and n != "data/sync.lock"} <= names
        copy = Database.connect(f"sqlite:///{tmp_path / 'out' / 'data' / 'lianfu.db'}")
        try:
            assert rows(copy, "enterprise") == rows(_spoke_db(fed, "sc-shanghai"), "enterprise")
        finally:
            copy.dispose()
    missing = _lianfu({**os.environ, "LIANFU_DATA_DIR": str(tmp_path / "nothing")}, "spoke", "backup", "--to",
                      str(tmp_path / "x.backup"))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
