"""An audit trail no database writer can rewrite unseen: the hub's chain keyed with a key the database does not
hold, and signed checkpoints that spokes keep as witnesses outside the hub."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import delete, select, update

from common.audit import trail as audit
from common.db import Database
from common.models import AuditEntry, AuditHead, utcnow
from common.audit.models import AuditCheckpoint
from common.settings import Settings
from hub import audit_checkpoints
from sync.directory import CHECKPOINTS_FILE, keep_checkpoint
from tests.sync_support import Federation


@pytest.fixture
def keyed(settings: Settings, db: Database) -> Iterator[Database]:
    """The hub's database as the hub opens it: its sessions carry the audit key."""
    database = Database.connect(settings.database_url, audit_key=audit.chain_key(settings.secret_key))
    yield database
    database.dispose()


def write(database: Database, count: int, node: str = "hub") -> None:
    with database.transaction() as session:
        for n in range(count):
            audit.record(session, node, "update", actor="office", entity_type="case", entity_id=f"case-{n}",
                         detail={"n": n})


def forge(database: Database, node: str, drop: set[int], link: Callable[[AuditEntry], str],
          keyed_from: Callable[[int | None], int | None] = lambda kept: kept) -> None:
    """What a writer of the database can do: remove entries, number the rest again, link them anew with `link`
    and make the head agree, so that nothing looks out of place to a plain hash check."""
    with database.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.node_id == node, AuditEntry.seq.in_(drop)))
        entries = session.scalars(select(AuditEntry).where(AuditEntry.node_id == node).order_by(AuditEntry.seq)).all()
        prev = audit.GENESIS
        for seq, entry in enumerate(entries, start=1):
            entry.seq, entry.prev_hash = seq, prev
            entry.hash = link(entry)
            prev = entry.hash
            session.flush()
        head = session.get(AuditHead, node)
        head.seq, head.hash, head.keyed_from = len(entries), prev, keyed_from(head.keyed_from)


def breaks(database: Database, key: bytes | None, node: str = "hub") -> list[audit.Break]:
    with database.reads() as session:
        return list(audit.verify(session, key=key, keyed_node=node))


def issue(database: Database, settings: Settings) -> str:
    with database.transaction() as session:
        row = audit_checkpoints.issue(session, settings)
        assert row is not None
        return row.jws


def age_checkpoints(database: Database) -> None:
    with database.transaction() as session:
        session.execute(update(AuditCheckpoint).values(issued_at=utcnow() - audit_checkpoints.ISSUE_EVERY - timedelta(seconds=1)))


def cli(settings: Settings, *args: str, secret: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANFU_") or k.startswith("LIANFU_TEST")}
    env["LIANFU_DATA_DIR"] = str(settings.data_dir)
    if secret:
        env["LIANFU_SECRET_KEY"] = settings.secret_key
    return subprocess.run([sys.executable, "-m", "common.cli_entry", "hub", "audit", *args, "--db", settings.database_url],
                          capture_output=True, text=True, env=env, timeout=120)


def test_keyed_entries_link_with_the_key_after_the_older_plain_ones(db: Database, keyed: Database,
                                                                    settings: Settings) -> None:
    write(db, 3)  # written before the hub had its key: plain sha256
    write(keyed, 4)
    with keyed.reads() as session:
        head = session.get(AuditHead, "hub")
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert head.keyed_from == 4 and head.seq == 7
    key = audit.chain_key(settings.secret_key)
    assert all(e.hash == audit.entry_hash(e) for e in entries[:3])
    assert all(e.hash == audit.entry_mac(e, key) != audit.entry_hash(e) for e in entries[3:])
    assert breaks(keyed, key) == []
    tally = audit.Tally()
    with db.reads() as session:  # without the key: the plain part checked, the keyed part counted as unchecked
        assert list(audit.verify(session, tally=tally)) == []
    assert (tally.entries, tally.unchecked) == (7, 4)
    result = cli(settings, "verify")
    assert result.returncode == 0, result.stderr
    assert "intact: 7 entries" in result.stdout
    unkeyed = cli(settings, "verify", secret=False)
    assert unkeyed.returncode == 1 and "not checked" in unkeyed.stderr


def test_entries_deleted_and_every_hash_recomputed_are_caught_by_the_key(db: Database, keyed: Database,
                                                                         settings: Settings) -> None:
    """The old attack: delete from the middle, recompute every hash with plain sha256, head included."""
    write(db, 3)
    write(keyed, 9)
    forge(keyed, "hub", {6, 7}, audit.entry_hash)
    found = breaks(keyed, audit.chain_key(settings.secret_key))
    assert found and found[0].seq == 4 and "without the audit key" in found[0].reason
    result = cli(settings, "verify")
    assert result.returncode == 1
    assert "entry 4" in result.stderr and "without the audit key" in result.stderr


def test_a_keyless_rewrite_of_the_whole_chain_is_caught_even_with_its_mark_removed(keyed: Database,
                                                                                   settings: Settings) -> None:
    write(keyed, 8)
    key = audit.chain_key(settings.secret_key)
    forge(keyed, "hub", {2}, audit.entry_hash)
    assert "without the audit key" in breaks(keyed, key)[0].reason
    # The writer also clears the head's mark: the chain now looks like one from before the upgrade.
    with keyed.transaction() as session:
        session.execute(update(AuditHead).where(AuditHead.node_id == "hub").values(keyed_from=None))
    found = breaks(keyed, key)
    assert found and found[0].seq == 1 and "no entry of the chain is linked with the audit key" in found[0].reason
    result = cli(settings, "verify")
    assert result.returncode == 1 and "no entry of the chain is linked with the audit key" in result.stderr


def test_a_cleared_mark_over_keyed_entries_is_named(keyed: Database, settings: Settings) -> None:
    write(keyed, 5)
    with keyed.transaction() as session:
        session.execute(update(AuditHead).where(AuditHead.node_id == "hub").values(keyed_from=None))
    found = breaks(keyed, audit.chain_key(settings.secret_key), node="elsewhere")
    assert found and "no longer says the chain is keyed" in found[0].reason


def test_a_cut_tail_is_caught_by_witnesses_from_a_spoke_dir_and_an_exported_file(keyed: Database, settings: Settings,
                                                                                 tmp_path: Path) -> None:
    write(keyed, 6)
    spoke_dir = tmp_path / "spoke"
    spoke_dir.mkdir()
    token = issue(keyed, settings)
    assert keep_checkpoint(spoke_dir, token)
    assert not keep_checkpoint(spoke_dir, token)  # the same one again: kept once
    exported = tmp_path / "exported.jsonl"
    result = cli(settings, "checkpoint", "--to", str(exported))
    assert result.returncode == 0, result.stderr
    assert "entry 6" in result.stdout
    write(keyed, 3)
    ok = cli(settings, "verify", "--witness", str(spoke_dir), "--witness", str(exported))
    assert ok.returncode == 0, ok.stderr
    assert "intact: 9 entries, 2 signed checkpoints" in ok.stdout  # each the database's and a witness's: once
    # A writer with the key (see below) or without it cuts the chain back to entry 4 and removes the database's own
    # checkpoints: the chain itself is a clean prefix, only a witness can tell.
    with keyed.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.node_id == "hub", AuditEntry.seq > 4))
        session.execute(delete(AuditCheckpoint))
        last = session.scalars(select(AuditEntry).where(AuditEntry.seq == 4)).one()
        session.execute(update(AuditHead).where(AuditHead.node_id == "hub").values(seq=4, hash=last.hash))
    assert breaks(keyed, audit.chain_key(settings.secret_key)) == []
    for witness in (spoke_dir, exported):
        result = cli(settings, "verify", "--witness", str(witness))
        assert result.returncode == 1, result.stdout
        assert "the chain ends at entry 4" in result.stderr and "entry 6" in result.stderr
        assert str(witness.name) in result.stderr


def test_a_rewrite_by_a_key_holder_after_a_checkpoint_is_caught_by_the_witness(keyed: Database, settings: Settings,
                                                                                tmp_path: Path) -> None:
    write(keyed, 10)
    witness = tmp_path / "witness.jsonl"
    witness.write_text(json.dumps({"jws": issue(keyed, settings)}) + "\n")
    key = audit.chain_key(settings.secret_key)
    forge(keyed, "hub", {3, 4}, lambda entry: audit.entry_mac(entry, key))
    with keyed.transaction() as session:
        session.execute(delete(AuditCheckpoint))
    assert breaks(keyed, key) == []  # the key cannot tell: whoever holds it links as the hub does
    with keyed.reads() as session:
        report = audit_checkpoints.check(session, settings, key, audit_checkpoints.read_witness(witness))
    assert report.checkpoints == 1 and report.breaks
    assert report.breaks[0].seq == 10 and "cut off" in report.breaks[0].reason
    # Entries added again up to the witnessed length do not hide it: the hash there differs.
    write(keyed, 4)
    result = cli(settings, "verify", "--witness", str(witness))
    assert result.returncode == 1 and "entry 10" in result.stderr and "rewritten" in result.stderr


def test_a_tampered_or_foreign_checkpoint_is_reported_not_trusted(keyed: Database, settings: Settings,
                                                                  tmp_path: Path) -> None:
    write(keyed, 4)
    token = issue(keyed, settings)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["chains"]["hub"]["seq"] = 2
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(json.dumps({"jws": f"{header}.{forged}.{signature}"}) + "\nnot a checkpoint\n")
    result = cli(settings, "verify", "--witness", str(tampered))
    assert result.returncode == 1
    assert "checkpoint not trusted" in result.stderr and "signature does not verify" in result.stderr
    assert "tampered.jsonl:1" in result.stderr and "tampered.jsonl:2" in result.stderr
    # A key a database writer adds (its own key pair) signs nothing the verifier trusts: it is not sealed under
    # the hub's secret key.
    from joserfc import jws
    from joserfc.jwk import RSAKey

    from common.models import SigningKey

    own = RSAKey.generate_key(2048, auto_kid=True)
    with keyed.transaction() as session:
        session.add(SigningKey(kid=own.kid, alg="RS256", public_jwk=own.as_dict(private=False), private_jwk="v1:AAAA",
                               status="retired", created_at=utcnow(), retired_at=utcnow()))
    made = jws.serialize_compact({"alg": "RS256", "kid": own.kid, "typ": audit_checkpoints.TYP},
                                 json.dumps({"typ": audit_checkpoints.TYP, "iat": 0, "chains": {}}).encode(), own,
                                 algorithms=["RS256"])
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(made + "\n")
    result = cli(settings, "verify", "--witness", str(foreign))
    assert result.returncode == 1
    assert f"signing key {own.kid} is not sealed" in result.stderr and "not one of the hub's" in result.stderr


def test_checkpoints_are_issued_when_the_chain_grew_and_the_last_is_old(keyed: Database, settings: Settings) -> None:
    assert audit_checkpoints.current(keyed, settings) is None  # no chain yet
    write(keyed, 2)
    first = audit_checkpoints.current(keyed, settings)
    assert first and audit_checkpoints.current(keyed, settings) == first  # just issued: the same again
    write(keyed, 1)
    assert audit_checkpoints.current(keyed, settings) == first  # grown, but the last one is recent
    age_checkpoints(keyed)
    second = audit_checkpoints.current(keyed, settings)
    assert second and second != first
    with keyed.reads() as session:
        trusted, _ = audit_checkpoints.keys.genuine(session, settings)
    assert audit_checkpoints.open_checkpoint(second, trusted).chains["hub"].seq == 3


def test_a_spoke_keeps_the_hubs_checkpoints_from_its_sync(settings: Settings, db: Database, world: dict[str, Any],
                                                          tmp_path: Path) -> None:
    """End to end: the hub app (its sessions keyed), a spoke enrolled and syncing through its HTTP API."""
    fed = Federation(settings, db, tmp_path / "spokes")
    try:
        sh = fed.enroll("sc-shanghai")
        assert sh.sync().ok
        kept = sh.settings.data_dir / CHECKPOINTS_FILE
        lines = [json.loads(line) for line in kept.read_text().splitlines()]
        assert len(lines) == 1 and lines[0]["jws"].count(".") == 2
        # A later round within ISSUE_EVERY brings the same checkpoint: not kept twice.
        from sync.client import SpokeSync

        SpokeSync(sh.db, sh.link, sh.settings.data_dir, sh.node).refresh_directory(force=True)
        assert len(kept.read_text().splitlines()) == 1
        # Once the last one is old and the chain grew, the next directory brings a new one.
        age_checkpoints(db)
        SpokeSync(sh.db, sh.link, sh.settings.data_dir, sh.node).refresh_directory(force=True)
        assert len(kept.read_text().splitlines()) == 2
        # The hub's chain, the world's plain entries and the app's keyed ones, verifies against the spoke's witness.
        hub_settings = fed.hub_settings
        key = audit.chain_key(hub_settings.secret_key)
        with db.reads() as session:
            report = audit_checkpoints.check(session, hub_settings, key, audit_checkpoints.read_witness(sh.settings.data_dir))
            assert session.get(AuditHead, "hub").keyed_from is not None
        assert report.breaks == [] and report.untrusted == [] and report.checkpoints == 2
    finally:
        fed.close()


def test_a_live_spoke_witnesses_a_cut_at_its_hub(tmp_path: Path) -> None:
    """Processes as an operator runs them: a hub serving over HTTP, a spoke enrolled and synced with `lianfu sync`;
    the checkpoint the spoke kept in its data dir catches the hub's chain cut short in the hub's own database."""
    import sqlite3

    from tests.live_federation import Federation as LiveFederation
    from tests.live_hub import LIANFU, ROOT

    with LiveFederation(enterprises=5) as fed:
        fed.enroll("sc-shanghai")
        assert fed.run_sync("sc-shanghai").returncode == 0
        kept = fed.spoke_dir("sc-shanghai") / CHECKPOINTS_FILE
        assert kept.is_file() and len(kept.read_text().splitlines()) == 1
        fed.stop_hub()

        def verify() -> subprocess.CompletedProcess[str]:
            return subprocess.run([*LIANFU, "hub", "audit", "verify", "--witness", str(fed.spoke_dir("sc-shanghai"))],
                                  cwd=ROOT, env=fed.hub_env, capture_output=True, text=True, timeout=120)

        intact = verify()
        assert intact.returncode == 0, intact.stderr
        assert "intact" in intact.stdout and "1 signed checkpoint held" in intact.stdout  # the spoke's, the hub's too
        witnessed = json.loads(kept.read_text())["jws"].split(".")[1]
        seq = json.loads(base64.urlsafe_b64decode(witnessed + "=" * (-len(witnessed) % 4)))["chains"]["hub"]["seq"]
        with sqlite3.connect(fed.hub_dir / "lianfu.db") as conn:
            conn.execute("DELETE FROM audit_checkpoint")
            conn.execute("DELETE FROM audit_entry WHERE node_id = 'hub' AND seq >= ?", (seq - 1,))
            last_seq, last_hash = conn.execute("SELECT seq, hash FROM audit_entry WHERE node_id = 'hub' "
                                               "ORDER BY seq DESC LIMIT 1").fetchone()
            conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE node_id = 'hub'", (last_seq, last_hash))
        cut = verify()
        assert cut.returncode == 1
        assert f"the chain ends at entry {last_seq}" in cut.stderr and "cut off" in cut.stderr
