"""The heal of a hub restored from an older backup: every row of this spoke's scope sent again, so the hub gets back
what it lost of it (the hub keeps a row it lacks or holds older; see sync/hub/heal.py), with the files' bytes.

Run when the hub answers with another lineage than the one this spoke last synced with (sync/hub/lineage.py). A heal
cut off is made again from the start by the next round (the rows the hub took already are kept as they are).
"""
from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import select

from common.attachments.blobs import BlobStore
from common.db import Database
from common.models import Attachment
from sync import bulk
from sync.client.hub_calls import HubCalls
from sync.client.outbox import SENT_NOT
from sync.client.result import Progress, RoundResult
from sync.client.state import BlobUploads, Stored, load, load_cursors, save, save_cursors
from sync.cursors import Cursor
from sync.entities import ENTITIES, Entity
from sync.fastpath import relaxed_transaction
from sync.hub_link import HubRefused
from sync.wire import HEAL_ROWS, LINEAGE_HEADER, MAX_BATCH_BYTES, HealAnswer, HealBatch, HealRow, decode, fits


class HubLineage(Stored):
    """The hub's lineage as this spoke last synced with it (sync/hub/lineage.py)."""

    KEY: ClassVar[str] = "hub_lineage"
    token: str | None = None


def moved_lineage(refused: HubRefused) -> str | None:
    """The hub's new lineage, when its refusal says it was restored from a backup (None for any other refusal)."""
    if refused.status != 409:
        return None
    return refused.headers.get(LINEAGE_HEADER.lower()) or None


class Heal:
    def __init__(self, db: Database, hub: HubCalls, data_dir: Any, progress: Progress) -> None:
        self.db = db
        self.hub = hub
        self.data_dir = data_dir
        self.progress = progress

    def run(self, result: RoundResult, from_lineage: str, to_lineage: str) -> None:
        """Send every row of the scope again, then the files' bytes with the round; adopt the hub's new lineage."""
        self.hub.headers[LINEAGE_HEADER] = to_lineage
        sent = 0
        try:
            for entity in ENTITIES:
                if entity.push:
                    sent = self._send_entity(result, entity, from_lineage, sent)
            decode(self.hub.raw("POST", "/api/v1/sync/heal", HealBatch(from_lineage, [], done=True, sent=sent)),
                   HealAnswer)
        except HubRefused as refused:
            if refused.status != 409:
                raise
            # This node has healed this history already (its last answer was lost), or the hub does not know the
            # history it synced with: nothing more to send; the round goes on with the hub's lineage.
        store = BlobStore(self.data_dir / "blobs")
        with self.db.reads() as session:
            held = {sha for sha in session.scalars(select(Attachment.sha256).distinct()) if store.has(sha)}
        with relaxed_transaction(self.db) as session:
            # The hub may have lost their bytes too: each is asked after (HEAD) and sent only when it lacks it.
            uploads = load(session, BlobUploads)
            save(session, BlobUploads(pending=sorted(set(uploads.pending) | held)))
            # The horizons of the cursors are the old database's transaction numbers: not comparable with the new.
            save_cursors(session, {name: Cursor(c.version, c.row_id, c.read_at, None)
                                   for name, c in load_cursors(session).items()})
            save(session, HubLineage(token=to_lineage))
        result.healed = sent

    def _send_entity(self, result: RoundResult, entity: Entity, from_lineage: str, sent: int) -> int:
        table = entity.table
        after = None
        while True:
            with self.db.reads() as session:
                query = select(table.c.id).order_by(table.c.id).limit(HEAL_ROWS)
                if after is not None:
                    query = query.where(table.c.id > after)
                ids = list(session.scalars(query))
                if not ids:
                    return sent
                rows = sorted(bulk.rows_by_ids(session, table, ids), key=lambda row: row["id"])
            after = ids[-1]
            batch = [HealRow(entity.name, {k: v for k, v in row.items() if k not in SENT_NOT},
                             fv=row["field_versions"] or {}) for row in rows]
            while batch:
                part = batch
                while len(part) > 1 and not fits(HealBatch(from_lineage, part), MAX_BATCH_BYTES):
                    part = part[: len(part) // 2]
                answer: HealAnswer = decode(self.hub.raw("POST", "/api/v1/sync/heal", HealBatch(from_lineage, part)),
                                            HealAnswer)
                result.heal_taken += answer.added + answer.updated
                sent += len(part)
                batch = batch[len(part):]
                self.progress("heal", sent, None)
