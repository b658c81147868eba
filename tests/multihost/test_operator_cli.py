"""What an operator of a hub of several hosts runs: moving a disk store into the database, and the settings a
PostgreSQL hub refuses to start without."""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from common.attachments.blobs import BlobStore
from common.attachments.dbblobs import DatabaseBlobStore
from common.db import Database
from common.models import AuditEntry, HubBlob
from tests.conftest import fresh_url
from tests.live_hub import LIANFU, ROOT

pytestmark = pytest.mark.postgresql


def lianfu(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("LIANFU_")}
    return subprocess.run([*LIANFU, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=300)


@pytest.fixture
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_url("postgresql", tmp_path_factory, "operator")


def test_a_disk_store_moves_into_the_database_once_and_a_bad_file_stays_out(pg_url: str, tmp_path: Path) -> None:
    disk = BlobStore(tmp_path / "blobs")
    large = os.urandom(2 * 1024 * 1024 + 3)
    small = b"%PDF-1.4 minutes"
    shas = [disk.put(large), disk.put(small)]
    forged = hashlib.sha256(b"the original").hexdigest()
    disk.path(forged).parent.mkdir(parents=True, exist_ok=True)
    disk.path(forged).write_bytes(b"something else")
    disk.append(hashlib.sha256(b"half").hexdigest(), 0, b"ha")  # an upload under way: not a file to move
    env = {"LIANFU_SECRET_KEY": "k" * 40, "LIANFU_COOKIE_SECURE": "0"}

    first = lianfu("hub", "blobs", "migrate", "--db", pg_url, "--data-dir", str(tmp_path), **env)
    assert first.returncode == 1, first.stderr
    assert "2 files moved into the database, 0 already there, 1 refused" in first.stdout
    assert forged in first.stderr and "Traceback" not in first.stderr
    again = lianfu("hub", "blobs", "migrate", "--db", pg_url, "--data-dir", str(tmp_path), **env)
    assert "0 files moved into the database, 2 already there, 1 refused" in again.stdout

    db = Database.connect(pg_url)
    try:
        store = DatabaseBlobStore(db)
        assert b"".join(store.read(shas[0])) == large and b"".join(store.read(shas[1])) == small
        assert not store.has(forged) and store.offset(forged) == 0
        with db.reads() as session:
            assert sorted(session.scalars(select(HubBlob.sha256))) == sorted(shas)
            moves = list(session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "blobs.migrated")
                                         .order_by(AuditEntry.seq)))
        assert [(m["moved"], m["present"], m["refused"]) for m in moves] == [(2, 0, [forged]), (0, 2, [forged])]
    finally:
        db.dispose()
    missing = lianfu("hub", "blobs", "migrate", "--db", pg_url, "--data-dir", str(tmp_path / "nowhere"), **env)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_a_production_postgresql_hub_without_the_shared_secret_key_refuses_to_start(pg_url: str,
                                                                                     tmp_path: Path) -> None:
    production = {"LIANFU_COOKIE_SECURE": "1", "LIANFU_BASE_URL": "https://lianfu.example.gov.cn",
                  "LIANFU_DATA_DIR": str(tmp_path / "host")}
    for args in (("hub", "serve", "--db", pg_url, "--port", "1"),
                 ("hub", "client", "create", "portal", "--grant", "client_credentials", "--db", pg_url)):
        refused = lianfu(*args, **production)
        assert refused.returncode != 0
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "LIANFU_SECRET_KEY" in lines[0], refused.stderr
    # No key was made in the host's data dir: the next start with the shared key finds nothing stale there.
    assert not (tmp_path / "host" / "secret_key").exists()
    wrong_store = lianfu("hub", "serve", "--db", pg_url, "--port", "1", **production, LIANFU_SECRET_KEY="k" * 40,
                         LIANFU_BLOB_STORE="s3")
    assert wrong_store.returncode != 0 and "LIANFU_BLOB_STORE" in wrong_store.stderr
    assert len(wrong_store.stderr.strip().splitlines()) == 1
