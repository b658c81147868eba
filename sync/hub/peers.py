"""A spoke's peer row at the hub: when it was last seen, how its last round went, what it has pushed and pulled."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from common.models import SyncPeer, utcnow

if TYPE_CHECKING:
    from sync.hub.marks import PeerNote

# Seconds a spoke's "last seen / last success" may lag behind its quiet rounds (the sync page's resolution).
PEER_REFRESH = 15.0


def peer(session: Session, node_id: str) -> SyncPeer:
    """A spoke's peer row, locked: read once per transaction (a push notes the batch, the protocol and the page)."""
    transaction = session.get_transaction()
    held = session.info.get("sync_peers")
    if held is None or held[0] is not transaction:
        held = session.info["sync_peers"] = (transaction, {})
    row = held[1].get(node_id)
    if row is None:
        row = session.get(SyncPeer, node_id, with_for_update=True)
        if row is None:
            row = SyncPeer(node_id=node_id, last_error="", pushed_total=0, pulled_total=0, rejected_total=0, queued=0,
                           lag_seconds=0.0, cursor=0, protocol=0, schema="")
            session.add(row)
        held[1][node_id] = row
    row.last_seen_at = utcnow()
    return row


def round_values(schema: str, queued: int, lag_seconds: float | None, mismatched: list[str]) -> dict[str, Any]:
    """What a spoke's round notes on its peer row."""
    return {"queued": max(0, queued), "lag_seconds": max(0.0, float(lag_seconds or 0.0)), "digest_ok": not mismatched,
            "schema": schema[:32]}


def round_noted(row: PeerNote | None, values: dict[str, Any]) -> bool:
    """Whether the peer row (as the round's marks read it) already says `values` of a successful round noted less
    than PEER_REFRESH seconds ago (a quiet round then writes nothing). Read from the row itself, so every hub worker
    answers alike."""
    if not values["digest_ok"] or row is None or row.last_success_at is None:
        return False
    held = {"queued": row.queued, "digest_ok": row.digest_ok, "schema": row.schema}
    # The lag comes back through the database's text form of a float: equal up to its last digit.
    return all(held[k] == values[k] for k in held) and math.isclose(row.lag_seconds, values["lag_seconds"],
                                                                     rel_tol=1e-12, abs_tol=1e-9) and \
        (utcnow() - row.last_success_at).total_seconds() < PEER_REFRESH


def note_round(session: Session, node_id: str, values: dict[str, Any]) -> None:
    """Write a spoke's round to its peer row when something changed, else every PEER_REFRESH seconds."""
    seen = session.get(SyncPeer, node_id)
    fresh = (seen is not None and seen.last_success_at is not None and values["digest_ok"]
             and all(getattr(seen, k) == v for k, v in values.items())
             and (utcnow() - seen.last_success_at).total_seconds() < PEER_REFRESH)
    if not fresh:
        record = peer(session, node_id)
        for key, value in values.items():
            setattr(record, key, value)
        if values["digest_ok"]:
            record.last_success_at = record.last_seen_at
