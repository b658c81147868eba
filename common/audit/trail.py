"""The audit trail: every change and security event, in one hash chain per node that detects tampering.

Where the node's audit key is known (the hub's, derived from LIANFU_SECRET_KEY, never stored) entries are linked
by an HMAC from the head's `keyed_from` on: a database writer cannot forge the links. Older entries and the spokes'
chains keep sha256 links, witnessed by signed checkpoints (hub/audit_checkpoints.py).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import timezone
from typing import Any, Iterator

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.models import AuditEntry, AuditHead, utcnow

GENESIS = "0" * 64
# Where a Database built with a key (common/db.py) leaves it for every session.
KEY_INFO = "audit_key"


def chain_key(secret_key: str) -> bytes:
    """The key of the node's audit chain, derived from its secret key: every host of one hub derives the same."""
    if not secret_key:
        raise ValueError("an audit key needs the node's secret key")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"lianfu audit chain v1").derive(secret_key.encode())


def session_key(session: Session) -> bytes | None:
    return session.info.get(KEY_INFO)


def _canonical(entry: AuditEntry) -> bytes:
    at = entry.at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = [entry.node_id, entry.seq, at, entry.actor, str(entry.actor_id or ""), entry.action, entry.entity_type,
            entry.entity_id, entry.detail, entry.address, entry.prev_hash]
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def entry_hash(entry: AuditEntry) -> str:
    """The plain link: anyone can compute it again, so it shows accidents and edits made without the key."""
    return hashlib.sha256(_canonical(entry)).hexdigest()


def entry_mac(entry: AuditEntry, key: bytes) -> str:
    """The keyed link: only a holder of the key can make it, so a rewritten chain cannot be made to verify."""
    return hmac.new(key, _canonical(entry), hashlib.sha256).hexdigest()


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
    """Append one entry in the caller's transaction: it lands with the change it describes, or not at all. Linked
    with the session's audit key when it has one (the hub's sessions), with plain sha256 otherwise."""
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
    key = session_key(session)
    if key is not None:
        if head.keyed_from is None:
            # The first keyed entry's MAC covers the hash of the last plain one, which vouches for all before it.
            head.keyed_from = head.seq
        entry.hash = entry_mac(entry, key)
    else:
        # A spoke's chain, or a hub's before it knew its key. Into a keyed chain (a process opened without the key)
        # such an entry is named by verify: a write whose link no one can trust is not hidden as a good one.
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


@dataclass
class Tally:
    """What a walk over the chains checked: every entry, and those whose keyed link it could not (no key)."""

    entries: int = 0
    unchecked: int = 0


def _link_problem(entry: AuditEntry, keyed_from: int | None, key: bytes | None, tally: Tally) -> str | None:
    if keyed_from is not None and entry.seq >= keyed_from:
        if key is None:
            tally.unchecked += 1
            return None
        if hmac.compare_digest(entry_mac(entry, key), entry.hash):
            return None
        if hmac.compare_digest(entry_hash(entry), entry.hash):
            return f"it is linked without the audit key inside the keyed chain (keyed from entry {keyed_from})"
        return "its content does not match its keyed hash (MAC)"
    if hmac.compare_digest(entry_hash(entry), entry.hash):
        return None
    if key is not None and hmac.compare_digest(entry_mac(entry, key), entry.hash):
        # A keyed entry where the head says the chain is plain: the head was edited to hide the keyed part.
        return "it is linked with the audit key, but the chain's head no longer says the chain is keyed"
    return "its content does not match its hash"


def verify(session: Session, batch: int = 5000, key: bytes | None = None, tally: Tally | None = None,
           keyed_node: str | None = None) -> Iterator[Break]:
    """Walk every node's chain; yield the first break of each (an edited, removed or reordered entry, or one linked
    without the key where the chain is keyed). `key`: the audit key [the session's]; without it keyed links are
    counted in `tally.unchecked`, not checked. `keyed_node`: the node whose chain the key must vouch for (the
    hub's): with the key, that chain must be keyed, or a rewrite that drops the key altogether would pass."""
    key = key if key is not None else session_key(session)
    tally = tally if tally is not None else Tally()
    heads = {h.node_id: h for h in session.scalars(select(AuditHead))}
    nodes = set(heads) | set(session.scalars(select(AuditEntry.node_id).distinct()))
    for node_id in sorted(nodes):
        head = heads.get(node_id)
        keyed_from = head.keyed_from if head is not None else None
        if key is not None and node_id == keyed_node and keyed_from is None:
            first = session.scalars(select(AuditEntry.id).where(AuditEntry.node_id == node_id)
                                    .order_by(AuditEntry.seq).limit(1)).first()
            if first is not None:
                # Entries from before the upgrade are vouched for by the first keyed entry's MAC over their tip;
                # a chain with none is either rewritten without the key or not yet written by a hub holding it.
                tally.entries += 1
                yield Break(node_id, 1, str(first), "no entry of the chain is linked with the audit key: it was "
                            "rewritten without the key, or no hub holding the key has written to it since the upgrade")
                continue
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
                tally.entries += 1
                reason = None
                if entry.seq != expected_seq:
                    reason = f"entry {expected_seq} is missing"
                elif entry.prev_hash != prev:
                    reason = "its link to the previous entry does not match"
                else:
                    reason = _link_problem(entry, keyed_from, key, tally)
                if reason:
                    yield Break(node_id, expected_seq, str(entry.id), reason)
                    broken = True
                    break
                prev, last_seq, expected_seq = entry.hash, entry.seq, entry.seq + 1
        if not broken and head is not None and (head.seq != last_seq or head.hash != prev):
            yield Break(node_id, last_seq + 1, "", "entries at the end of the chain are missing")
        elif not broken and keyed_from is not None and keyed_from > last_seq:
            yield Break(node_id, keyed_from, "", "the keyed part of the chain is missing")
