"""The hub's attachment files in its database: the disk store's promises, kept by rows."""
from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import func, select

from common.attachments.blobs import CHUNK, BlobMismatch, BlobStore
from common.attachments.dbblobs import DatabaseBlobStore, blob_store_for
from common.models import HubBlob, HubBlobChunk
from common.settings import Settings


def _chunks(db, sha: str) -> list[tuple[int, int]]:  # noqa: ANN001
    with db.reads() as session:
        return [tuple(row) for row in session.execute(
            select(HubBlobChunk.position, func.length(HubBlobChunk.data))
            .where(HubBlobChunk.sha256 == sha).order_by(HubBlobChunk.position))]


def test_a_whole_file_is_kept_in_pieces_and_read_back(db) -> None:  # noqa: ANN001
    store = DatabaseBlobStore(db, 10 * CHUNK)
    data = os.urandom(2 * CHUNK + 12345)
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.has(sha) and store.offset(sha) == len(data)
    # Pieces of at most a megabyte: a large file is never one value held whole.
    assert _chunks(db, sha) == [(0, CHUNK), (CHUNK, CHUNK), (2 * CHUNK, 12345)]
    assert b"".join(store.read(sha)) == data
    assert b"".join(store.read(sha, CHUNK + 7)) == data[CHUNK + 7:]
    assert store.head(sha, 10) == data[:10]
    assert store.put(data) == sha  # again: nothing more written
    assert len(_chunks(db, sha)) == 3


def test_a_resumable_upload_grows_at_its_end_and_is_verified(db) -> None:  # noqa: ANN001
    store = DatabaseBlobStore(db)
    data = os.urandom(CHUNK + 500)
    sha = hashlib.sha256(data).hexdigest()
    assert store.offset(sha) == 0
    assert store.append(sha, 0, data[:700]) == 700
    with pytest.raises(ValueError, match="expected offset 700"):
        store.append(sha, 0, data[:700])  # a repeated piece is refused, nothing written
    assert store.offset(sha) == 700 and not store.has(sha)
    assert store.append(sha, 700, data[700:]) == len(data)
    store.complete(sha)
    assert store.has(sha) and b"".join(store.read(sha)) == data


def test_bytes_that_do_not_match_their_name_are_thrown_away(db) -> None:  # noqa: ANN001
    store = DatabaseBlobStore(db)
    sha = hashlib.sha256(b"what was promised").hexdigest()
    store.append(sha, 0, b"something else")
    with pytest.raises(BlobMismatch):
        store.complete(sha)
    assert not store.has(sha) and store.offset(sha) == 0 and _chunks(db, sha) == []
    with db.reads() as session:
        assert session.scalar(select(func.count()).select_from(HubBlob)) == 0


def test_the_setting_chooses_the_store(db, settings: Settings) -> None:  # noqa: ANN001
    from dataclasses import replace

    assert isinstance(blob_store_for(replace(settings, blob_store="database"), db), DatabaseBlobStore)
    assert isinstance(blob_store_for(replace(settings, blob_store="disk"), db), BlobStore)
    default = blob_store_for(replace(settings, blob_store=""), db)
    assert isinstance(default, DatabaseBlobStore if settings.database_url.startswith("postgres") else BlobStore)


def test_files_an_older_hub_kept_on_disk_are_served_until_they_are_moved_in(db, settings: Settings) -> None:  # noqa: ANN001
    from dataclasses import replace

    disk = BlobStore(settings.data_dir / "blobs")
    old = os.urandom(CHUNK + 99)
    sha = disk.put(old)
    store = blob_store_for(replace(settings, blob_store="database"), db)
    assert isinstance(store, DatabaseBlobStore) and store.earlier is not None
    # Served from this host's disk: whole, from an offset, its first bytes, its size.
    assert store.has(sha) and store.size(sha) == len(old)
    assert b"".join(store.read(sha)) == old and b"".join(store.read(sha, 100)) == old[100:]
    assert store.head(sha, 8) == old[:8]
    assert _chunks(db, sha) == []
    # Kept again (an upload of the same file): it goes into the database, for every host.
    assert store.put(old) == sha and _chunks(db, sha) == [(0, CHUNK), (CHUNK, 99)]
    # Nothing new is written to the disk, and a file on neither is not found.
    fresh = os.urandom(50)
    assert not disk.has(store.put(fresh))
    missing = hashlib.sha256(b"nowhere").hexdigest()
    assert not store.has(missing)
    with pytest.raises(FileNotFoundError):
        b"".join(store.read(missing))


def test_uploads_left_unfinished_for_a_week_are_cleared_and_complete_files_kept(db, settings: Settings) -> None:  # noqa: ANN001
    from datetime import timedelta

    from sqlalchemy import update

    from common.attachments.leftovers import KEEP_DAYS, run
    from common.models import utcnow

    store = DatabaseBlobStore(db)
    whole = os.urandom(CHUNK + 10)
    kept = store.put(whole)
    gone, going_on = os.urandom(CHUNK + 20), os.urandom(CHUNK + 30)
    gone_sha, going_sha = hashlib.sha256(gone).hexdigest(), hashlib.sha256(going_on).hexdigest()
    for sha, data in ((gone_sha, gone), (going_sha, going_on)):
        assert store.append(sha, 0, data[:CHUNK]) == CHUNK
    disk = BlobStore(settings.data_dir / "blobs")
    disk_old, disk_new = hashlib.sha256(b"old").hexdigest(), hashlib.sha256(b"new").hexdigest()
    assert disk.append(disk_old, 0, b"ol") == 2 and disk.append(disk_new, 0, b"ne") == 2
    week_ago = utcnow() - timedelta(days=KEEP_DAYS, hours=1)
    stamp = week_ago.timestamp()
    os.utime(disk.partial(disk_old), (stamp, stamp))
    with db.transaction() as session:
        # The complete file's pieces are as old: complete files are never cleared, whatever their age.
        session.execute(update(HubBlobChunk).where(HubBlobChunk.sha256.in_([gone_sha, kept])).values(written_at=week_ago))

    assert run(db, settings, utcnow()) == {"disk": 1, "database": 1}
    assert _chunks(db, gone_sha) == [] and store.offset(gone_sha) == 0  # it starts again from 0 if it comes back
    assert store.offset(going_sha) == CHUNK and b"".join(store.read(kept)) == whole
    assert not disk.partial(disk_old).exists() and disk.offset(disk_new) == 2
    assert run(db, settings, utcnow()) == {"disk": 0, "database": 0}
    # The one still going on is finished and served.
    assert store.append(going_sha, CHUNK, going_on[CHUNK:]) == len(going_on)
    store.complete(going_sha)
    assert b"".join(store.read(going_sha)) == going_on
