"""The rounds' record: when one was tried, how the last went, what waits to be sent; as the sync page shows it."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.db import Database
from common.models import SyncOutbox, utcnow
from sync.client.result import RoundResult
from sync.client.state import LastRound, Snapshot, Status, load, save
from sync.fastpath import relaxed_transaction, run_compiled

# Seconds a quiet round may leave the recorded status as the last round wrote it (the sync page's resolution).
STATUS_REFRESH = 15.0
_QUEUE = select(func.count(), func.min(SyncOutbox.created_at))


def queue_of(session: Session) -> tuple[int, float]:
    """Changes waiting to be sent, and the age in seconds of the oldest."""
    count, oldest = run_compiled(session, _QUEUE).one()
    if not count or oldest is None:
        return 0, 0.0
    if isinstance(oldest, str):  # as SQLite holds it (the statement's rows come as the driver makes them)
        oldest = datetime.fromisoformat(oldest)
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc)
    return int(count), max(0.0, (utcnow() - oldest).total_seconds())


def note_attempt(db: Database, snapshot: Snapshot, in_flight: bool) -> None:
    """Note the start of a round, so one killed half-way still shows when it was tried (with nothing to send and
    a round noted within the minute, not again: the end of every round notes it, a quiet round writes once)."""
    last = snapshot.get(Status).last_attempt
    if last and not snapshot.waiting and (utcnow() - datetime.fromisoformat(last)).total_seconds() < 60:
        return
    if snapshot.waiting and not in_flight:
        return  # noted with the first batch the push sends
    with relaxed_transaction(db) as session:
        status = load(session, Status)
        status.last_attempt = utcnow().isoformat()
        save(session, status)


def remember(db: Database, result: "RoundResult", snapshot: Snapshot | None = None, count_queue: bool = False) -> None:
    """The round's outcome in the status (with `count_queue`, the queue counted in the same transaction).
    `snapshot`: the round's, when it was quiet (a quiet round after a quiet round may write nothing)."""
    if snapshot is not None and _unchanged(result, snapshot.get(Status)):
        return
    with relaxed_transaction(db) as session:
        if count_queue:
            result.queued, result.lag_seconds = queue_of(session)
        status = load(session, Status)
        now = utcnow().isoformat()
        status.last_attempt, status.queued, status.lag_seconds = now, result.queued, round(result.lag_seconds, 1)
        if result.ok:
            status.last_success, status.last_error, status.open_conflicts = now, None, result.open_conflicts
            status.last_round = LastRound(pushed=result.pushed, pulled=result.pulled, dropped=result.dropped,
                                          conflicts=result.conflicts, rejected=len(result.rejected),
                                          repaired=result.repaired, seconds=round(result.seconds, 3))
        else:
            status.last_error, status.last_error_at = result.error, now
        if result.rejected:
            status.rejected = (status.rejected + result.rejected)[-100:]
        save(session, status)


def _quiet(last_round: LastRound) -> bool:
    return (last_round.pushed, last_round.pulled, last_round.dropped, last_round.conflicts, last_round.rejected,
            last_round.repaired) == (0, 0, 0, 0, 0, [])


def _unchanged(result: "RoundResult", status: Status) -> bool:
    """A quiet round after a quiet round noted less than STATUS_REFRESH seconds ago: the status would say the
    same again (a quiet round stays a read)."""
    if not result.ok or result.queued or result.rejected or status.last_error is not None:
        return False
    this = LastRound(pushed=result.pushed, pulled=result.pulled, dropped=result.dropped, conflicts=result.conflicts,
                     rejected=len(result.rejected), repaired=result.repaired)
    if not _quiet(this) or not _quiet(status.last_round or LastRound(pulled=-1)):
        return False
    if status.queued != 0 or status.open_conflicts != result.open_conflicts:
        return False
    noted = status.last_success
    return bool(noted) and 0 <= (utcnow() - datetime.fromisoformat(noted)).total_seconds() < STATUS_REFRESH


def status(db: Database) -> dict[str, Any]:
    """What `lianfu sync status` and the spoke's sync page show."""
    with db.reads() as session:
        stored = load(session, Status)
        count, oldest = session.execute(select(func.count(), func.min(SyncOutbox.created_at))).one()
    lag = 0.0
    if count and oldest is not None:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc)
        lag = max(0.0, (utcnow() - oldest).total_seconds())
    last_round = stored.last_round
    return {"last_success": stored.last_success, "last_error": stored.last_error,
            "last_error_at": stored.last_error_at, "last_attempt": stored.last_attempt,
            "queued": int(count or 0), "lag_seconds": round(lag, 1), "open_conflicts": stored.open_conflicts or 0,
            "last_round": None if last_round is None else {f: getattr(last_round, f) for f in last_round.__struct_fields__},
            "rejected": stored.rejected[-10:]}
