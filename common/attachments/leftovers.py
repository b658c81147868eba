"""Uploads left unfinished for long are cleared: the hub's `upload-leftovers` job.

A resumable upload (a spoke's file sent in pieces over a poor line, a large attachment) keeps what has come so far
until it is complete, so that it can go on where it stopped. One abandoned for good (the spoke re-installed, the
person gave up) would be kept for ever: after KEEP_DAYS without a new piece its bytes go, on disk (`blobs/partial/`)
and in the database (`hub_blob_chunk` rows of no `hub_blob`). An upload that comes back later starts again from 0,
as the offset it is told says. Complete files are never touched.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from common.attachments.models import HubBlob, HubBlobChunk

KEEP_DAYS = 7


def run(db: Any, settings: Any, now: datetime) -> dict[str, int]:
    """One run as if at `now`: how many unfinished uploads were cleared from the disk and from the database."""
    before = now.astimezone(UTC) - timedelta(days=KEEP_DAYS)
    done = {"disk": 0, "database": 0}
    partial = settings.data_dir / "blobs" / "partial"
    if partial.is_dir():
        for path in partial.iterdir():
            try:
                if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, UTC) < before:
                    path.unlink()
                    done["disk"] += 1
            except FileNotFoundError:
                continue  # completed or cleared meanwhile
    with db.transaction() as session:
        stale = (select(HubBlobChunk.sha256).where(HubBlobChunk.sha256.not_in(select(HubBlob.sha256)))
                 .group_by(HubBlobChunk.sha256)
                 .having(func.max(HubBlobChunk.written_at) < before))
        shas = list(session.scalars(stale))
        if shas:
            session.execute(delete(HubBlobChunk).where(HubBlobChunk.sha256.in_(shas),
                                                       HubBlobChunk.sha256.not_in(select(HubBlob.sha256))))
        done["database"] = len(shas)
    return done
