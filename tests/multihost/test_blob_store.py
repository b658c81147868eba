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
