"""The audit trail: every change and security event, in one hash chain per node that detects tampering."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timezone
from typing import Any, Iterator

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.models import AuditEntry, AuditHead, utcnow

GENESIS = "0" * 64


def _canonical(entry: AuditEntry) -> bytes:
    at = entry.at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = [entry.node_id, entry.seq, at, entry.actor, str(entry.actor_id or ""), entry.action, entry.entity_type,
            entry.entity_id, entry.detail, entry.address, entry.prev_hash]
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(_canonical(entry)).hexdigest()


def record(
    session: Session,
    node_id: str,
    action: str,
    *,
    actor: str = "",
    actor_id: uuid.UUID | None = None,
    entity_type: str = "",
    entity_id: Any = "",
    detail: dict[str, Any] | None = None,
    address: str = "",
) -> AuditEntry:
    """Append one entry in the caller's transaction: it lands with the change it describes, or not at all."""
    # Bumping the head first takes the write lock (a row lock on PostgreSQL, the database lock on SQLite),
    # so two writers never read the same tip.
    bumped = session.execute(update(AuditHead).where(AuditHead.node_id == node_id).values(seq=AuditHead.seq + 1))
    if bumped.rowcount == 0:
        session.add(AuditHead(node_id=node_id, seq=1, hash=GENESIS))
        session.flush()
    head = session.scalars(select(AuditHead).where(AuditHead.node_id == node_id)).one()
    session.refresh(head)
    entry = AuditEntry(
        node_id=node_id, seq=head.seq, at=utcnow(), actor=actor,
        actor_id=actor_id, action=action, entity_type=entity_type, entity_id=str(entity_id or ""),
        detail=_jsonable(detail or {}), address=address, prev_hash=head.hash,
    )
    entry.hash = entry_hash(entry)
    head.hash = entry.hash
    session.add(entry)
    session.flush()
    return entry


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


@dataclass(frozen=True)
class Break:
    node_id: str
    seq: int
    entry_id: str
    reason: str


def verify(session: Session, batch: int = 5000) -> Iterator[Break]:
    """Walk every node's chain; yield the first break of each (an edited, removed or reordered entry)."""
    heads = {h.node_id: h for h in session.scalars(select(AuditHead))}
    nodes = set(heads) | set(session.scalars(select(AuditEntry.node_id).distinct()))
    for node_id in sorted(nodes):
        expected_seq, prev = 1, GENESIS
        broken = False
        last_seq = 0
        while not broken:
            rows = session.scalars(
                select(AuditEntry).where(AuditEntry.node_id == node_id, AuditEntry.seq >= expected_seq)
                .order_by(AuditEntry.seq).limit(batch)
            ).all()
            if not rows:
                break
            for entry in rows:
                reason = None
                if entry.seq != expected_seq:
                    reason = f"entry {expected_seq} is missing"
                elif entry.prev_hash != prev:
                    reason = "its link to the previous entry does not match"
                elif entry_hash(entry) != entry.hash:
                    reason = "its content does not match its hash"
                if reason:
                    yield Break(node_id, expected_seq, str(entry.id), reason)
                    broken = True
                    break
                prev, last_seq, expected_seq = entry.hash, entry.seq, entry.seq + 1
        head = heads.get(node_id)
        if not broken and head is not None and (head.seq != last_seq or head.hash != prev):
            yield Break(node_id, last_seq + 1, "", "entries at the end of the chain are missing")
