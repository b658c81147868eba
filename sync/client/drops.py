"""Drops: rows that left the spoke's slice at the hub (moved to another node's scope), deleted here."""
from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from common.db import Database
from sync.client.apply import delete_rows, pending_edits
from sync.client.hub_calls import HubCalls
from sync.client.result import RoundResult
from sync.client.state import DropsCursor, load, save
from sync.entities import BY_NAME, ENTITIES
from sync.fastpath import relaxed_transaction

class Drops:
    def __init__(self, db: Database, hub: HubCalls) -> None:
        self.db = db
        self.hub = hub

    def look(self, result: "RoundResult") -> None:
        """Ask the hub what left the slice since the last look, and delete it."""
        answer = self.hub.call("GET", "/api/v1/sync/drops", params={"since": self.next_look()}, timeout=60)
        self.apply(result, answer.get("drops", []), int(answer.get("cursor", 0)))

    def next_look(self) -> int:
        with self.db.reads() as session:
            return load(session, DropsCursor).next_look()

    def apply(self, result: "RoundResult", drops: list[Any], cursor: int, read_at: int = 0,
              stored: DropsCursor | None = None) -> None:
        """Delete the rows that left (a row with changes not yet sent stays: the hub decides on it when they come),
        and move the drops cursor on to `cursor`, read at `read_at`. `stored`: the cursor as the round's snapshot
        read it."""
        if stored is None:
            with self.db.reads() as session:
                stored = load(session, DropsCursor)
        moved = DropsCursor(since=max(stored.since, cursor), read_at=read_at)
        if not drops and moved.next_look() == stored.next_look() and moved.since == stored.since:
            return  # nothing left the scope and the next look starts where it would have: nothing to write
        # Rows that left this spoke's slice stay gone through a power cut (synced to disk); a cursor alone need not.
        with (self.db.transaction() if drops else relaxed_transaction(self.db)) as session:
            pending = pending_edits(session)
            by_entity: dict[str, list[uuid.UUID]] = defaultdict(list)
            for drop in drops:
                entity, row_id = (drop.entity, drop.id) if hasattr(drop, "entity") else (drop["entity"], drop["id"])
                if entity in BY_NAME and (entity, row_id) not in pending:
                    by_entity[entity].append(uuid.UUID(row_id))
            for entity in reversed(ENTITIES):  # what refers to a row goes before it
                ids = by_entity.get(entity.name)
                if ids:
                    delete_rows(session, entity, ids)
                    result.dropped += len(ids)
            moved.since = max(load(session, DropsCursor).since, cursor)
            save(session, moved)
