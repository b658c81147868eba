"""The digest: this slice's row counts and version checksums compared with the hub's view of it; a drift repaired."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.db import Database
from common.models import SyncMark, SyncOutbox
from sync.client.apply import delete_rows, pending_edits
from sync.client.hub_calls import HubCalls
from sync.client.result import RoundResult
from sync.client.state import load_cursors, save_cursors
from sync.client.status import queue_of
from sync.entities import BY_NAME, ENTITIES
from sync.fastpath import run_compiled
from sync.hub_link import HubRefused
from sync.wire import decode

if TYPE_CHECKING:
    from sync.client.inbox import Inbox

WAITING = select(func.count()).select_from(SyncOutbox)
_MARK_SUMS = select(SyncMark.entity, func.sum(SyncMark.rows), func.sum(SyncMark.checksum)).group_by(SyncMark.entity)


def local_digests(session: Session) -> dict[str, list[int]]:
    """This slice's digest, [rows, checksum] per pulled entity, from the marks its database's triggers keep (every
    write to the tables counts, whatever made it)."""
    out = {entity.name: [0, 0] for entity in ENTITIES if entity.pull}
    for name, count, checksum in run_compiled(session, _MARK_SUMS).all():
        if name in out:
            out[name] = [int(count or 0), int(checksum or 0)]
    return out


class Digest:
    def __init__(self, db: Database, hub: HubCalls, inbox: "Inbox") -> None:
        self.db = db
        self.hub = hub
        self.inbox = inbox

    def request(self) -> dict[str, Any] | None:
        """This spoke's digest of its slice, or None while changes wait to be sent (they would make it differ)."""
        with self.db.reads() as session:
            if session.scalar(select(func.count()).select_from(SyncOutbox)):
                return None
            digests = local_digests(session)
        with self.db.reads() as session:
            queued, lag = queue_of(session)
        return {"digests": digests, "queued": queued, "lag_seconds": lag}

    def check(self, result: "RoundResult", repair: bool = True) -> None:
        """Ask the hub for its verdict on this slice's digest; with `repair`, a drift is repaired."""
        wanted = self.request()
        if wanted is None:
            return  # written to while syncing: the next round compares
        self.verdict(result, decode(self.hub.raw("POST", "/api/v1/sync/digest", wanted), dict[str, Any]), repair)

    def agrees(self, hub_digest: dict[str, list[int]]) -> bool:
        """Whether this slice, with the last page applied, has the digest the hub read with that page (when it
        does not, or changes wait to be sent, the round asks the hub for its verdict)."""
        with self.db.reads() as session:
            if run_compiled(session, WAITING).scalar():
                return False
            mine = local_digests(session)
        return all(mine.get(name) == [int(v) for v in value] for name, value in hub_digest.items()) and \
            all(name in hub_digest for name in mine)

    def verdict(self, result: "RoundResult", answer: dict[str, Any], repair: bool = True) -> None:
        """The hub's verdict: the scope's open conflicts, and the entities whose digest differs. Drifted: trust
        nothing of those entities; drop what the hub does not hold, pull the rest again."""
        result.open_conflicts = int(answer.get("open_conflicts", 0))
        mismatched = [name for name in answer.get("mismatched", []) if name in BY_NAME]
        if not mismatched or not repair:
            if mismatched:
                raise HubRefused(409, {"detail": f"still diverged after repair: {', '.join(mismatched)}"})
            return
        for name in mismatched:
            ids = self.hub.call("GET", "/api/v1/sync/ids", params={"entity": name})
            keep = {uuid.UUID(i) for i in ids.get("ids", [])}
            entity = BY_NAME[name]
            with self.db.transaction() as session:  # rows outside the slice removed: synced to disk, as drops are
                pending = pending_edits(session)
                local = session.scalars(select(entity.table.c.id)).all()
                extra = [i for i in local if i not in keep and (name, str(i)) not in pending]
                for start in range(0, len(extra), 500):
                    delete_rows(session, entity, extra[start:start + 500])
                cursors = load_cursors(session)
                cursors.pop(name, None)
                save_cursors(session, cursors)
            result.repaired.append(name)
        self.inbox.trust_versions = False  # drifted: every row the hub sends is written again, whatever its version
        try:
            self.inbox.pull(result)
        finally:
            self.inbox.trust_versions = True
        self.check(result, repair=False)
