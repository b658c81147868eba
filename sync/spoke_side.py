"""A spoke's sync round: push its outbox, pull its scope, drop what left it, then check the digest with the hub.

Every step is a checkpoint: an acknowledged batch leaves the outbox in the transaction that records the answer,
a pulled page is applied in the transaction that moves the cursor. A round cut off anywhere resumes from there.
"""
from __future__ import annotations

import fcntl
import gc
import json
import os
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import msgspec
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from common.attachments.blobs import BlobStore
from common.db import Database, run_compiled
from common.migrate import head_and_previous
from common.models import Attachment, BulletinAudience, Case, CaseUnit, SyncMark, SyncOutbox, SyncState, utcnow
from common.cases import service as case_service
from sync import bulk
from sync.directory import apply_directory, keep_checkpoint
from sync.entities import BY_NAME, ENTITIES, Entity
from sync.hub_link import HubLink, HubRefused, HubUnreachable
from sync.wire import (
    MAX_BATCH_BYTES, MAX_BATCH_ROWS, OVERLAP, PROTOCOL, PROTOCOL_HEADER, PULL_PAGE_ROWS, SCHEMA_HEADER, Change,
    PullAnswer, PullRequest, PushAnswer, PushBatch, decode, encode, fits,
)

Progress = Callable[[str, int, int | None], None]
SENT_NOT = frozenset({"version", "field_versions", "pushed_by", "pushed_version"})
BLOB_CHUNK = 1024 * 1024
MIN_PULL_PAGE_ROWS = 20
# Seconds between two readings of the directory (nodes around, own accounts, the office's lists).
DIRECTORY_REFRESH = float(os.environ.get("LIANFU_DIRECTORY_REFRESH", "300"))


# One WAL checkpoint at a time in this process (see SpokeSync._checkpoint_later), by one thread kept for it (a new
# thread per round costs the round a quarter of a millisecond).
_CHECKPOINTING = threading.Lock()
_CHECKPOINTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lianfu-checkpoint")


class _Background:
    """Work handed to a background thread, to wait for like a thread's: `join(timeout)`."""

    def __init__(self, future: Future[Any]) -> None:
        self.future = future

    def join(self, timeout: float | None = None) -> None:
        wait([self.future], timeout)

    def is_alive(self) -> bool:
        return not self.future.done()


# Seconds a quiet round may leave the recorded status as the last round wrote it (the sync page's resolution).
STATUS_REFRESH = 15.0
QUIET_ROUND = {"pushed": 0, "pulled": 0, "dropped": 0, "conflicts": 0, "rejected": 0, "repaired": []}


@dataclass
class Snapshot:
    """What a round starts from, read in one transaction: the sync state, the outbox, and (when nothing waits to
    be sent) the digest of the slice."""

    state: dict[str, dict[str, Any]]
    waiting: int
    digests: dict[str, list[int]] | None

    def get(self, key: str) -> dict[str, Any]:
        return dict(self.state.get(key) or {})


# Per entity, the columns an UPDATE statement fills in by itself unless they are set (version, updated_at).
ONUPDATE = {entity.name: tuple(c.name for c in entity.table.columns if c.onupdate is not None) for entity in ENTITIES}
_STATE = select(SyncState.key, SyncState.value)
_WAITING = select(func.count()).select_from(SyncOutbox)
_QUEUE = select(func.count(), func.min(SyncOutbox.created_at))
_MARK_SUMS = select(SyncMark.entity, func.sum(SyncMark.rows), func.sum(SyncMark.checksum)).group_by(SyncMark.entity)


def _json(value: Any) -> dict[str, Any]:
    """A JSON column's value as the driver hands it back (text on SQLite, already decoded on PostgreSQL)."""
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    return dict(value or {})


@dataclass
class Ridden:
    """The first pull page of a round, asked for with its last push batch and applied with the batch's
    acknowledgement: what it was asked with, and the cursors as saved after it."""

    page: PullAnswer
    request: PullRequest
    saved: dict[str, Any]


class SyncBusy(Exception):
    """Another sync of this spoke is running."""


@dataclass
class RoundResult:
    pushed: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    conflicts: int = 0
    pulled: int = 0
    dropped: int = 0
    repaired: list[str] = field(default_factory=list)
    files_sent: int = 0
    open_conflicts: int = 0
    queued: int = 0
    lag_seconds: float = 0.0
    seconds: float = 0.0
    ok: bool = False
    error: str | None = None


@contextmanager
def exclusive(data_dir: Path, wait: float = 0.0) -> Iterator[None]:
    """One sync at a time per data dir, whichever process (the scheduler, `lianfu sync`) starts it; `wait` seconds
    for one under way to end before giving up."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / "sync.lock", "a+")
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SyncBusy("a sync of this spoke is already running") from None
                time.sleep(0.2)
        yield
    finally:
        handle.close()


# The sync state's rows, read and written as plain statements (a round reads and writes a few of them; the ORM's
# identity map and unit of work cost more than the statements themselves).
_STATE_TABLE = SyncState.__table__
_STATE_READ = select(_STATE_TABLE.c.value).where(_STATE_TABLE.c.key == bindparam("key"))
_STATE_UPDATE = update(_STATE_TABLE).where(_STATE_TABLE.c.key == bindparam("_key")).values(value=bindparam("_value"))


def read_state(session: Session, key: str) -> dict[str, Any]:
    value = run_compiled(session, _STATE_READ, key=key).scalar()
    return _json(value) if value is not None else {}


def write_state(session: Session, key: str, value: dict[str, Any]) -> None:
    if session.execute(_STATE_UPDATE, {"_key": key, "_value": value}).rowcount == 0:
        session.execute(insert(_STATE_TABLE), {"key": key, "value": value})


class SpokeSync:
    def __init__(self, db: Database, link: HubLink, data_dir: Path, node_id: str, progress: Progress | None = None) -> None:
        self.db = db
        self.link = link
        self.data_dir = data_dir
        self.node_id = node_id
        self.progress = progress or (lambda phase, done, total: None)
        self._epoch: str | None = None
        # Whether a pulled row held here at its version is left as it is (see _held); not while repairing a drift.
        self.trust_versions = True
        self.page_rows = pull_page_rows()
        self.checkpointing: _Background | None = None
        # The hub's tag of this spoke's directory, from the last pull page of the round (None: a hub that sends none).
        self.hub_directory: str | None = None
        head, _ = head_and_previous()
        self.headers = {PROTOCOL_HEADER: str(PROTOCOL), SCHEMA_HEADER: head, "Content-Type": "application/json",
                        "Content-Encoding": "gzip"}

    # --- the round ----------------------------------------------------------------------------------------------

    def round(self, wait: float = 0.0) -> RoundResult:
        """One round; `wait` seconds for a round under way (the scheduler's) to end first."""
        result = RoundResult()
        started = time.monotonic()
        snap: Snapshot | None = None
        try:
            with exclusive(self.data_dir, wait):
                snap = self.look()
                first = snap
                self._epoch = snap.get("epoch").get("token") or None
                self._attempt(snap)
                ridden: Ridden | None = None
                if snap.waiting or snap.get("in_flight"):
                    ridden = self.push(result, snap=snap)
                    snap = None
                if snap is None or snap.get("blob_uploads").get("pending"):
                    self.upload_blobs(result)
                settled = self.pull(result, settle=True, snap=snap, ridden=ridden)
                if "drops" not in settled:
                    self.drops(result)
                if "digest" not in settled:
                    self.check_digest(result)
                self.refresh_directory(state=first.get("directory"))  # not written by the round
                result.ok = True
        except SyncBusy as exc:
            result.error = str(exc)
        except (HubUnreachable, HubRefused) as exc:
            result.error = str(exc)
            self._report(result.error)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, KeyError, OSError) as exc:
            # An answer cut short or not the hub's (a proxy's page): this round failed, the next one starts again.
            result.error = f"the hub's answer could not be read: {type(exc).__name__}: {exc}"[:500]
            self._report(result.error)
        result.seconds = time.monotonic() - started
        quiet = snap is not None and result.ok and not snap.waiting and not (result.pulled or result.dropped or
                                                                              result.repaired)
        if quiet:
            result.queued, result.lag_seconds = 0, 0.0  # nothing waited, nothing came: as the round began
        self._remember(result, snap if quiet else None, count_queue=not quiet)
        if result.ok and (result.pushed or result.pulled or result.dropped or result.repaired):
            self._checkpoint_later()
        return result

    def _checkpoint_later(self) -> None:
        """The round's writes folded from the WAL into the database file in the background, once the round is over
        (a commit would otherwise do it in the middle of the next round that crosses the WAL's threshold)."""
        if not _CHECKPOINTING.acquire(blocking=False):
            return  # one under way folds these too

        def run() -> None:
            try:
                self.db.checkpoint()
            except Exception:  # noqa: BLE001 - housekeeping: the next round's checkpoint, or a commit's, does it
                pass
            finally:
                _CHECKPOINTING.release()

        self.checkpointing = _Background(_CHECKPOINTER.submit(run))

    def look(self) -> Snapshot:
        """The sync state, the outbox and the slice's digest as one transaction sees them (fixed statements run on
        every round, compiled once)."""
        with self.db.reads() as session:
            state = {key: _json(value) for key, value in run_compiled(session, _STATE).all()}
            count = int(run_compiled(session, _WAITING).scalar() or 0)
            digests = self.local_digests(session) if not count else None
        return Snapshot(state, count, digests)

    def _call(self, method: str, path: str, payload: Any = None, **kwargs: Any) -> Any:
        content = encode(payload) if payload is not None else None
        return self.link.call(method, path, content=content, headers=dict(self.headers), timeout=120, **kwargs)

    def _report(self, error: str) -> None:
        try:
            self._call("POST", "/api/v1/sync/report", {"error": error})
        except (HubUnreachable, HubRefused):
            pass

    def queue(self) -> tuple[int, float]:
        with self.db.reads() as session:
            return self._queue(session)

    @staticmethod
    def _queue(session: Session) -> tuple[int, float]:
        """Changes waiting to be sent, and the age in seconds of the oldest."""
        count, oldest = run_compiled(session, _QUEUE).one()
        if not count or oldest is None:
            return 0, 0.0
        if isinstance(oldest, str):  # as SQLite holds it (the statement's rows come as the driver makes them)
            oldest = datetime.fromisoformat(oldest)
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc)
        return int(count), max(0.0, (utcnow() - oldest).total_seconds())

    def _attempt(self, snap: Snapshot) -> None:
        """Note the start of a round, so one killed half-way still shows when it was tried (with nothing to send and
        a round noted within the minute, not again: the end of every round notes it, a quiet round writes once)."""
        last = snap.get("status").get("last_attempt")
        if last and not snap.waiting and (utcnow() - datetime.fromisoformat(last)).total_seconds() < 60:
            return
        if snap.waiting and not snap.get("in_flight"):
            return  # noted with the first batch it sends (see push)
        with self.db.transaction(durable=False) as session:
            status = read_state(session, "status")
            status["last_attempt"] = utcnow().isoformat()
            write_state(session, "status", status)

    def _remember(self, result: RoundResult, snap: Snapshot | None = None, count_queue: bool = False) -> None:
        """The round's outcome in the status (with `count_queue`, the queue counted in the same transaction)."""
        if snap is not None and self._unchanged(result, snap.get("status")):
            return
        with self.db.transaction(durable=False) as session:
            if count_queue:
                result.queued, result.lag_seconds = self._queue(session)
            status = read_state(session, "status")
            now = utcnow().isoformat()
            status.update(last_attempt=now, queued=result.queued, lag_seconds=round(result.lag_seconds, 1))
            if result.ok:
                status.update(last_success=now, last_error=None, open_conflicts=result.open_conflicts,
                              last_round={"pushed": result.pushed, "pulled": result.pulled, "dropped": result.dropped,
                                          "conflicts": result.conflicts, "rejected": len(result.rejected),
                                          "repaired": result.repaired, "seconds": round(result.seconds, 3)})
            else:
                status.update(last_error=result.error, last_error_at=now)
            if result.rejected:
                status["rejected"] = (status.get("rejected", []) + result.rejected)[-100:]
            write_state(session, "status", status)

    @staticmethod
    def _unchanged(result: RoundResult, status: dict[str, Any]) -> bool:
        """A quiet round after a quiet round noted less than STATUS_REFRESH seconds ago: the status would say the
        same again (a quiet round stays a read)."""
        if not result.ok or result.queued or result.rejected or status.get("last_error") is not None:
            return False
        last = status.get("last_round") or {}
        quiet = {"pushed": result.pushed, "pulled": result.pulled, "dropped": result.dropped,
                 "conflicts": result.conflicts, "rejected": len(result.rejected), "repaired": result.repaired}
        if quiet != QUIET_ROUND or any(last.get(k) != v for k, v in QUIET_ROUND.items()):
            return False
        if status.get("queued") != 0 or status.get("open_conflicts") != result.open_conflicts:
            return False
        noted = status.get("last_success")
        return bool(noted) and 0 <= (utcnow() - datetime.fromisoformat(noted)).total_seconds() < STATUS_REFRESH

    def refresh_directory(self, force: bool = False, state: dict[str, Any] | None = None) -> None:
        """The nodes around this one, its accounts and the office's lists, taken again when the hub's tag of them
        (with the round's last page) is not the one taken with this copy, and every DIRECTORY_REFRESH seconds in any
        case. `state`: the directory's sync state as the round's snapshot read it."""
        if state is None:
            with self.db.reads() as session:
                state = read_state(session, "directory")
        at, tag, now = state.get("at"), state.get("tag"), utcnow()
        due = force or not at or (now - datetime.fromisoformat(at)).total_seconds() >= DIRECTORY_REFRESH or \
            (self.hub_directory is not None and self.hub_directory != tag)
        if not due:
            return
        payload = self._call("GET", "/api/v1/sync/directory")
        # Synced to disk: a person the office disabled stays disabled here through a power cut.
        with self.db.transaction() as session:
            apply_directory(session, payload, self.node_id)
            # The hub's tag as read before this copy: a change since then shows as another tag next round.
            write_state(session, "directory", {"at": now.isoformat(), "tag": self.hub_directory or tag})
        keep_checkpoint(self.data_dir, payload.get("audit_checkpoint"))

    # --- push ---------------------------------------------------------------------------------------------------

    def push(self, result: RoundResult, ride: bool = True, snap: Snapshot | None = None) -> Ridden | None:
        """Send the outbox batch by batch; each next batch is read and built while the hub applies the one before
        (the two machines work at once), and sent only once that one is acknowledged. With `ride`, the last batch
        asks for the round's first pull page too, applied with its acknowledgement: returned for the pull to go on
        from. `snap`: the round's snapshot (its cursors and epoch; the round's start is noted with the first batch)."""
        ridden: Ridden | None = None
        note_attempt = snap is not None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lianfu-push") as pool:
            ahead: Future[Any] | None = None
            while True:
                if ahead is not None:
                    prepared, noted = ahead.result(), False
                else:
                    # The first batch is read and marked in flight in one transaction.
                    prepared, noted = self._next_batch(None, mark=True, note_attempt=note_attempt), True
                    note_attempt = False
                ahead = None
                if prepared is None:
                    return ridden
                batch, entries, resent, last = prepared
                if not resent and not noted:
                    with self.db.transaction(durable=False) as session:
                        self._mark_in_flight(session, batch, entries, note_attempt)
                    note_attempt = False
                if last and not resent:
                    # The outbox's last as read (what is written meanwhile goes next round): with the round's first
                    # pull page asked for. (After a page came with a batch, the cursors are read again.)
                    asked = self._first_pull(snap if ridden is None else None) if ride else None
                    return self._send(result, batch, entries, asked) or ridden
                ahead = pool.submit(self._next_batch, entries[-1].seq)
                ridden = self._send(result, batch, entries) or ridden

    @staticmethod
    def _mark_in_flight(session: Session, batch: PushBatch, entries: list[Any], note_attempt: bool) -> None:
        """The batch about to be sent, so one whose answer never comes goes again under its id (and, with
        `note_attempt`, the round's start)."""
        write_state(session, "in_flight", {"batch_id": batch.batch_id, "first": entries[0].seq, "last": entries[-1].seq})
        if note_attempt:
            status = read_state(session, "status")
            status["last_attempt"] = utcnow().isoformat()
            write_state(session, "status", status)

    def _first_pull(self, snap: Snapshot | None = None) -> tuple[PullRequest, dict[str, Any]]:
        """The pull a round's last batch asks for, and the cursors it starts from as saved: from the cursors, with
        the drops; the hub's digest with the last page (this spoke's changes to the slice are made by then). Only a
        pull writes the cursors and drops: the round's snapshot still holds them."""
        if snap is not None:
            saved, drops = snap.get("cursors"), snap.get("drops")
        else:
            with self.db.reads() as session:
                saved = read_state(session, "cursors")
                drops = read_state(session, "drops")
        cursors = {name: resume_from(value) for name, value in saved.items()}
        return PullRequest(cursors=cursors, limit=self.page_rows, drops_since=_drops_from(drops), want_digest=True), saved

    def _next_batch(self, after: int | None, mark: bool = False,
                    note_attempt: bool = False) -> tuple[PushBatch, list[Any], bool, bool] | None:
        """The next batch: the entries after seq `after`; with None, a batch sent before whose answer never came
        (`in_flight`: the same entries again under the same id, so the hub answers it from its record instead of
        merging the rows a second time), else the first entries. With it, its entries, whether it is sent again and
        whether it was the outbox's last as read. With `mark`, a new batch is marked in flight (see
        _mark_in_flight) in the transaction that reads it."""
        epoch = self.epoch()  # (made, the first time, in a transaction of its own)
        with (self.db.transaction(durable=False) if mark else self.db.reads()) as session:
            in_flight = read_state(session, "in_flight") if after is None else {}
            # Rows, not ORM objects: only read, and a batch holds up to MAX_BATCH_ROWS of them.
            outbox = SyncOutbox.__table__
            query = select(outbox).order_by(outbox.c.seq).limit(MAX_BATCH_ROWS)
            if in_flight:
                query = query.where(outbox.c.seq >= in_flight["first"], outbox.c.seq <= in_flight["last"])
            elif after is not None:
                query = query.where(outbox.c.seq > after)
            entries = list(session.execute(query).all())
            if not entries and in_flight:
                entries = list(session.execute(select(outbox).order_by(outbox.c.seq).limit(MAX_BATCH_ROWS)).all())
                in_flight = {}
            if not entries:
                return None
            changes = self._changes(session, entries)
            last = len(entries) < MAX_BATCH_ROWS
            if in_flight:
                return PushBatch(batch_id=in_flight["batch_id"], changes=changes, upto=entries[-1].seq), entries, True, False
            batch = PushBatch(batch_id=f"{epoch}-{entries[0].seq}-{entries[-1].seq}", changes=changes,
                              upto=entries[-1].seq)
            while not fits(batch, MAX_BATCH_BYTES) and len(entries) > 1:
                last = False
                entries = entries[: len(entries) // 2]
                batch = PushBatch(batch_id=f"{epoch}-{entries[0].seq}-{entries[-1].seq}",
                                  changes=self._changes(session, entries), upto=entries[-1].seq)
            if mark:
                self._mark_in_flight(session, batch, entries, note_attempt)
        return batch, entries, False, last

    def _send(self, result: RoundResult, batch: PushBatch, entries: list[Any],
              asked: tuple[PullRequest, dict[str, Any]] | None = None) -> Ridden | None:
        """One batch to the hub; its answer acknowledged in one transaction, with the pull page it `asked` for
        applied (returned: the pull goes on from it)."""
        if asked is not None:
            batch.pull = asked[0]
        answer: PushAnswer = decode(self._raw("POST", "/api/v1/sync/push", batch), PushAnswer)
        refused = {(r.entity, r.id) for r in answer.rejected}
        files = [str(c.values.get("sha256")) for c in batch.changes
                 if c.entity == "attachment" and c.made and (c.entity, c.id) not in refused]
        with self.db.transaction(durable=False) as session:
            # Acknowledged: these entries are the hub's now (applied, merged or in a conflict record).
            session.execute(delete(SyncOutbox).where(SyncOutbox.seq >= entries[0].seq, SyncOutbox.seq <= answer.upto))
            self._stamp(session, answer.stamps)
            write_state(session, "in_flight", {})
            if files:
                # Their rows are at the hub: their bytes follow, in the same round or a later one.
                uploads = read_state(session, "blob_uploads")
                uploads["pending"] = sorted(set(uploads.get("pending", [])) | set(files))
                write_state(session, "blob_uploads", uploads)
            ridden = None
            if asked is not None and answer.page is not None:
                request, saved = asked
                if answer.page.rows or self._cursors_move(saved, answer.page):
                    self.apply_rows(session, answer.page)
                    saved = self._save_cursors(session, answer.page)
                ridden = Ridden(answer.page, request, saved)
        result.pushed += answer.applied
        result.conflicts += answer.conflicts
        result.rejected.extend({"entity": r.entity, "id": r.id, "reason": r.reason} for r in answer.rejected)
        self.progress("push", result.pushed, None)
        if ridden is not None:
            result.pulled += len(ridden.page.rows)
            self.progress("pull", result.pulled, None)
        return ridden

    @staticmethod
    def _stamp(session: Session, stamps: list[list[Any]]) -> None:
        """The hub's version and time on the rows it took exactly as they are here (it will not send them back)."""
        by_entity: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entity_name, row_id, version, updated_at in stamps:
            if entity_name in BY_NAME:
                by_entity[entity_name].append({"id": uuid.UUID(str(row_id)), "version": int(version),
                                               "updated_at": datetime.fromisoformat(str(updated_at))})
        for entity_name, rows in by_entity.items():
            bulk.update_rows(session, BY_NAME[entity_name].table, rows, ["version", "updated_at"])

    def epoch(self) -> str:
        """A token made once per spoke database: its batch ids never repeat those of an earlier machine."""
        if self._epoch:
            return self._epoch
        with self.db.reads() as session:
            token = read_state(session, "epoch").get("token")
        if token:
            return str(token)
        with self.db.transaction() as session:
            state = read_state(session, "epoch")
            if not state.get("token"):
                state = {"token": uuid.uuid4().hex[:12]}
                write_state(session, "epoch", state)
            return str(state["token"])

    def _raw(self, method: str, path: str, payload: Any) -> bytes:
        """A call whose answer is decoded by the caller into its struct (the link decodes JSON into builtins)."""
        return self.link.call(method, path, content=encode(payload), headers=dict(self.headers), timeout=120, raw=True)

    def _changes(self, session: Session, entries: list[Any]) -> list[Change]:
        """The outbox entries of each row folded into one change carrying the row's current values."""
        folded: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in entries:
            key = (entry.entity, entry.row_id)
            item = folded.setdefault(key, {"made": False, "fields": {}, "prior": {}, "actor": None})
            if entry.fields is None:
                item["made"] = True
            else:
                for name in entry.fields:
                    item["fields"][name] = True
                    item["prior"].setdefault(name, (entry.prior or {}).get(name))
            if entry.actor_id is not None:
                item["actor"] = str(entry.actor_id)
        by_entity: dict[str, list[str]] = defaultdict(list)
        wanted: dict[str, set[str] | None] = {}  # the columns each entity's changes carry (None: every one)
        for (entity_name, row_id), item in folded.items():
            by_entity[entity_name].append(row_id)
            if item["made"] or wanted.get(entity_name, set()) is None:
                wanted[entity_name] = None
            else:
                wanted.setdefault(entity_name, set()).update(item["fields"])  # type: ignore[union-attr]
        rows: dict[tuple[str, str], Any] = {}
        for entity_name, row_ids in by_entity.items():
            entity = BY_NAME[entity_name]
            table = entity.table
            fields = wanted[entity_name]
            # Edits carry their fields and the row's field versions: only those columns are read (and converted).
            columns = None if fields is None else tuple(
                column.name for column in table.columns if column.name in fields or column.name in ("id", "field_versions"))
            for row in bulk.rows_by_ids(session, table, [uuid.UUID(i) for i in row_ids], columns=columns):
                rows[(entity_name, str(row["id"]))] = row
        changes = []
        for (entity_name, row_id), item in folded.items():
            row = rows.get((entity_name, row_id))
            if row is None:
                continue  # gone locally (dropped from scope): nothing to say about it
            entity = BY_NAME[entity_name]
            versions = row["field_versions"] or {}
            if item["made"]:
                values = {k: v for k, v in row.items() if k not in SENT_NOT}
                changes.append(Change(entity_name, row_id, values, fv=versions, made=True, actor=item["actor"]))
            else:
                names = [n for n in item["fields"] if n in entity.fields and n in row]
                changes.append(Change(entity_name, row_id, {n: row[n] for n in names},
                                      fv={n: versions.get(n) for n in names},
                                      prior={n: item["prior"].get(n) for n in names}, actor=item["actor"],
                                      row_fv=versions))
        return changes

    # --- attachments' bytes: sent after their rows, fetched when first opened -----------------------------------

    def _blob_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k not in ("Content-Type", "Content-Encoding")}

    def upload_blobs(self, result: RoundResult) -> None:
        store = BlobStore(self.data_dir / "blobs")
        with self.db.reads() as session:
            pending = list(read_state(session, "blob_uploads").get("pending", []))
        for sha in pending:
            if store.has(sha):
                self._upload(store, sha)
            with self.db.transaction(durable=False) as session:
                uploads = read_state(session, "blob_uploads")
                uploads["pending"] = [x for x in uploads.get("pending", []) if x != sha]
                write_state(session, "blob_uploads", uploads)
            result.files_sent += 1

    def _upload(self, store: BlobStore, sha: str) -> None:
        """Send a file from where the hub's copy stops; the hub checks the whole against its name at the end."""
        path = f"/api/v1/sync/blobs/{sha}"
        response = self.link.call("HEAD", path, headers=self._blob_headers(), raw=True, want_response=True)
        if response.headers.get("Blob-Complete") == "1":
            return
        offset = int(response.headers.get("Upload-Offset", "0"))
        size = store.offset(sha)
        with store.open(sha) as handle:
            handle.seek(offset)
            while True:
                chunk = handle.read(BLOB_CHUNK)
                last = offset + len(chunk) >= size
                headers = {**self._blob_headers(), "Upload-Offset": str(offset), "Content-Type": "application/octet-stream"}
                if last:
                    headers["Upload-Complete"] = "1"
                answer = self.link.call("PUT", path, content=chunk, headers=headers, timeout=300)
                offset = int(answer.get("offset", offset + len(chunk)))
                if last:
                    return

    def fetch_blob(self, sha: str) -> None:
        """Bring a file from the hub on first use, resuming a transfer cut off before; checked before it is kept."""
        store = BlobStore(self.data_dir / "blobs")
        if store.has(sha):
            return
        offset = store.offset(sha)
        headers = {**self._blob_headers(), "Range": f"bytes={offset}-"}
        content = self.link.call("GET", f"/api/v1/sync/blobs/{sha}", headers=headers, raw=True, timeout=300)
        store.append(sha, offset, content)
        store.complete(sha)

    # --- pull ---------------------------------------------------------------------------------------------------

    def pull(self, result: RoundResult, settle: bool = False, snap: Snapshot | None = None,
             ridden: Ridden | None = None) -> set[str]:
        """Pull pages until the last; with `settle`, the first page also carries the drops cursor and the digest,
        and the answer says which of "drops" and "digest" the last page settled (a round with nothing to do is
        this one request). `snap`: the round's snapshot, when nothing was written since it was read. `ridden`: the
        first page came with the push's last batch and is applied (the pull goes on after it)."""
        page: PullAnswer | None = None
        extra: dict[str, Any] = {}
        if ridden is not None:
            page, saved = ridden.page, ridden.saved
            cursors = dict(ridden.request.cursors)
            extra = {"drops_since": ridden.request.drops_since, "want_digest": True}
        else:
            if snap is not None:
                saved = snap.get("cursors")
            else:
                with self.db.reads() as session:
                    saved = read_state(session, "cursors")
            cursors = {name: resume_from(value) for name, value in saved.items()}
        if settle and ridden is None:
            if snap is not None:
                extra["drops_since"] = _drops_from(snap.get("drops"))
                digest = ({"digests": snap.digests, "queued": 0, "lag_seconds": 0.0} if snap.digests is not None
                          else None)
            else:
                extra["drops_since"] = self._drops_since()
                digest = self._digest_request()
            if digest is not None:
                extra["digest"] = digest
        while True:
            if page is None:
                enabled = gc.isenabled()
                gc.disable()  # decoding a large page makes many small objects at once
                try:
                    page = decode(self._raw("POST", "/api/v1/sync/pull",
                                            {"cursors": cursors, "limit": self.page_rows, **extra}), PullAnswer)
                finally:
                    if enabled:
                        gc.enable()
                if page.rows or self._cursors_move(saved, page):
                    with self.db.transaction(durable=False) as session:
                        self.apply_rows(session, page)
                        saved = self._save_cursors(session, page)
                result.pulled += len(page.rows)
                self.progress("pull", result.pulled, None)
            cursors.update({name: value[:2] for name, value in page.cursors.items()})
            if not page.more:
                break
            page = None
            if "digest" in extra:
                # Rows were applied since the digest was taken: the last page brings the hub's for a comparison here.
                del extra["digest"]
                extra["want_digest"] = True
        if page.directory is not None:
            self.hub_directory = page.directory
        settled: set[str] = set()
        if page.drops_checked:
            self._apply_drops(result, page.drops, page.drops_cursor, page.read_at,
                              snap.get("drops") if snap is not None else None)
            settled.add("drops")
        if page.digest is not None:
            self._verdict(result, page.digest)
            settled.add("digest")
        elif page.hub_digest is not None and self._agrees(page.hub_digest):
            result.open_conflicts = int(page.open_conflicts or 0)
            settled.add("digest")
        return settled

    @staticmethod
    def _save_cursors(session: Session, page: PullAnswer) -> dict[str, Any]:
        """Where the next pull starts, moved on by a page applied in the same transaction."""
        merged = dict(read_state(session, "cursors"))
        for name, value in page.cursors.items():
            if len(value) in (3, 4) and (name not in merged or int(value[0]) >= int(merged[name][0])):
                merged[name] = value
        write_state(session, "cursors", merged)
        return merged

    def _agrees(self, hub_digest: dict[str, list[int]]) -> bool:
        """Whether this slice, with the last page applied, has the digest the hub read with that page (when it
        does not, or changes wait to be sent, the round asks the hub for its verdict)."""
        with self.db.reads() as session:
            if run_compiled(session, _WAITING).scalar():
                return False
            mine = self.local_digests(session)
        return all(mine.get(name) == [int(v) for v in value] for name, value in hub_digest.items()) and \
            all(name in hub_digest for name in mine)

    @staticmethod
    def _cursors_move(saved: dict[str, Any], page: PullAnswer) -> bool:
        """Whether an empty page changes where the next pull starts (a quiet round then writes nothing)."""
        for name, value in page.cursors.items():
            if len(value) not in (3, 4):
                continue
            old = saved.get(name)
            if old is None or int(value[0]) > int(old[0]) or resume_from(value) != resume_from(old):
                return True
        return False

    def apply_rows(self, session: Session, page: PullAnswer) -> None:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        audiences: dict[uuid.UUID, list[str]] = {}
        for row in page.rows:
            grouped[row.entity].append(row.values)
            if row.audience is not None:
                audiences[uuid.UUID(str(row.values["id"]))] = row.audience
        pending = self._pending(session)
        touched_cases: set[uuid.UUID] = set()
        for entity in ENTITIES:
            raw_rows = grouped.get(entity.name)
            if not raw_rows:
                continue
            raw_rows, local = self._held(session, entity, raw_rows, self.trust_versions)
            if not raw_rows:
                continue
            columns = set(entity.columns)
            rows = []
            for raw in raw_rows:
                # A hub one schema ahead may send columns this spoke does not have yet: leave them.
                values = entity.decode({k: v for k, v in raw.items() if k in columns})
                fields = pending.get((entity.name, str(values["id"])))
                if fields is not None:
                    values = self._keep_local(entity, values, local.get(values["id"]), fields)
                rows.append(values)
            self._upsert(session, entity, rows, local)
            if entity.name == "case_event":
                touched_cases.update(r["case_id"] for r in rows)
        for case_id in touched_cases:
            case = session.get(Case, case_id)
            if case is not None:
                case_service.project(session, case, case_service.case_state(session, case_id))
        if audiences:
            # Whom each bulletin is addressed to here, as the hub resolved it: replaced whole with each copy.
            session.execute(delete(BulletinAudience).where(BulletinAudience.bulletin_id.in_(list(audiences))))
            addressed = [{"bulletin_id": b, "node_id": n} for b, nodes in audiences.items() for n in nodes]
            if addressed:
                session.execute(insert(BulletinAudience), addressed)

    @staticmethod
    def _held(session: Session, entity: Entity, raw_rows: list[dict[str, Any]],
              skip_held: bool) -> tuple[list[dict[str, Any]], dict[uuid.UUID, Any]]:
        """The rows this spoke holds with the ids of `raw_rows` (read once, for the upsert to compare with), and
        the rows to write: with `skip_held`, only those it does not hold at the version they come with. A version
        names a row's contents (every write makes a new one, here or at the hub), so a row sent again (a page
        asked again) is left without a decode and a comparison. A malformed id is a malformed answer."""
        try:
            ids = [uuid.UUID(str(raw["id"])) for raw in raw_rows]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"a {entity.name} row without a valid id") from exc
        table = entity.table
        local: dict[uuid.UUID, Any] = {}
        for start in range(0, len(ids), 500):
            local.update((row["id"], row) for row in bulk.rows_by_ids(session, table, ids[start:start + 500]))
        if skip_held:
            raw_rows = [raw for raw, row_id in zip(raw_rows, ids)
                        if row_id not in local or local[row_id]["version"] != raw.get("version")]
        return raw_rows, local

    @staticmethod
    def _pending(session: Session) -> dict[tuple[str, str], set[str] | None]:
        """Rows with local changes the hub has not acknowledged yet, and which fields (None: made here)."""
        out: dict[tuple[str, str], set[str] | None] = {}
        for entity, row_id, fields in session.execute(select(SyncOutbox.entity, SyncOutbox.row_id, SyncOutbox.fields)):
            key = (entity, row_id)
            if fields is None or (key in out and out[key] is None):
                out[key] = None
            else:
                out.setdefault(key, set()).update(fields)  # type: ignore[union-attr]
        return out

    @staticmethod
    def _keep_local(entity: Entity, values: dict[str, Any], local: Any, fields: set[str] | None) -> dict[str, Any]:
        """The hub's row, but this spoke's own unsent edits stay until the hub has merged them. `local`: the row held
        here (as _held read it), or None."""
        if local is None:
            return values
        keep = set(entity.fields) if fields is None else fields
        versions = dict(values.get("field_versions") or {})
        for name in keep:
            values[name] = local[name]
            if (local["field_versions"] or {}).get(name) is not None:
                versions[name] = local["field_versions"][name]
        values["field_versions"] = versions
        return values

    @staticmethod
    def _upsert(session: Session, entity: Entity, rows: list[dict[str, Any]], local: dict[uuid.UUID, Any]) -> None:
        """Write the hub's rows: new ones inserted, known ones updated in just the columns that differ (a row sent
        again, or one this spoke sent whose only change is the hub's version, writes little; a search index is
        touched only when a searched column changes), identical ones left alone. `local`: the rows held here with
        these ids, as read in this transaction."""
        table = entity.table
        for start in range(0, len(rows), 500):
            chunk = rows[start:start + 500]
            inserts: list[dict[str, Any]] = []
            updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
            for values in chunk:
                here = local.get(values["id"])
                if here is None:
                    inserts.append(values)
                    continue
                changed = [name for name, value in values.items() if name != "id" and here[name] != value]
                if changed:
                    # Always written: columns with an on-update default would otherwise take this node's clock.
                    changed += [name for name in ONUPDATE.get(entity.name, ()) if name in values and name not in changed]
                    updates[tuple(changed)].append(values)
            if inserts:
                names = list(inserts[0])
                statement = sqlite_insert(table)
                statement = statement.on_conflict_do_update(
                    index_elements=[table.c.id],
                    set_={name: statement.excluded[name] for name in names if name != "id"},
                )
                session.execute(statement, inserts)
            for names, group in updates.items():
                bulk.update_rows(session, table, group, list(names))

    # --- drops and the digest -----------------------------------------------------------------------------------

    def drops(self, result: RoundResult) -> None:
        answer = self.link.call("GET", "/api/v1/sync/drops", params={"since": self._drops_since()},
                                headers=dict(self.headers), timeout=60)
        self._apply_drops(result, answer.get("drops", []), int(answer.get("cursor", 0)))

    def _drops_since(self) -> int:
        """Where the next look for rows that left starts: at the last one seen, or a little before it when that
        look was read while moves below it could still commit (as a pull's cursor: see resume_from)."""
        with self.db.reads() as session:
            state = read_state(session, "drops")
        return _drops_from(state)

    def _apply_drops(self, result: RoundResult, drops: list[Any], cursor: int, read_at: int = 0,
                     state: dict[str, Any] | None = None) -> None:
        if state is None:
            with self.db.reads() as session:
                state = read_state(session, "drops")
        since = int(state.get("since", 0))
        new_state = {"since": max(since, cursor), "read_at": read_at} if read_at else {"since": max(since, cursor)}
        if not drops and _drops_from(new_state) == _drops_from(state) and new_state["since"] == since:
            return  # nothing left the scope and the next look starts where it would have: nothing to write
        # Rows that left this spoke's slice stay gone through a power cut (synced to disk); a cursor alone need not.
        with self.db.transaction(durable=bool(drops)) as session:
            pending = self._pending(session)
            by_entity: dict[str, list[uuid.UUID]] = defaultdict(list)
            for drop in drops:
                entity, row_id = (drop.entity, drop.id) if hasattr(drop, "entity") else (drop["entity"], drop["id"])
                if entity in BY_NAME and (entity, row_id) not in pending:
                    by_entity[entity].append(uuid.UUID(row_id))
            for entity in reversed(ENTITIES):  # what refers to a row goes before it
                ids = by_entity.get(entity.name)
                if ids:
                    _delete_rows(session, entity, ids)
                    result.dropped += len(ids)
            since = int(read_state(session, "drops").get("since", 0))
            new_state["since"] = max(since, cursor)
            write_state(session, "drops", new_state)

    def local_digests(self, session: Session) -> dict[str, list[int]]:
        """This slice's digest, from the marks its database's triggers keep (every write to the tables counts,
        whatever made it)."""
        out = {entity.name: [0, 0] for entity in ENTITIES if entity.pull}
        for name, count, checksum in run_compiled(session, _MARK_SUMS).all():
            if name in out:
                out[name] = [int(count or 0), int(checksum or 0)]
        return out

    def _digest_request(self) -> dict[str, Any] | None:
        """This spoke's digest of its slice, or None while changes wait to be sent (they would make it differ)."""
        with self.db.reads() as session:
            if session.scalar(select(func.count()).select_from(SyncOutbox)):
                return None
            digests = self.local_digests(session)
        queued, lag = self.queue()
        return {"digests": digests, "queued": queued, "lag_seconds": lag}

    def check_digest(self, result: RoundResult, repair: bool = True) -> None:
        wanted = self._digest_request()
        if wanted is None:
            return  # written to while syncing: the next round compares
        self._verdict(result, decode(self._raw("POST", "/api/v1/sync/digest", wanted), dict[str, Any]), repair)

    def _verdict(self, result: RoundResult, answer: dict[str, Any], repair: bool = True) -> None:
        result.open_conflicts = int(answer.get("open_conflicts", 0))
        mismatched = [name for name in answer.get("mismatched", []) if name in BY_NAME]
        if not mismatched or not repair:
            if mismatched:
                raise HubRefused(409, {"detail": f"still diverged after repair: {', '.join(mismatched)}"})
            return
        # Drifted: trust nothing of those entities. Drop what the hub does not hold, pull the rest again.
        for name in mismatched:
            ids = self.link.call("GET", "/api/v1/sync/ids", params={"entity": name}, headers=dict(self.headers),
                                 timeout=120)
            keep = {uuid.UUID(i) for i in ids.get("ids", [])}
            entity = BY_NAME[name]
            with self.db.transaction() as session:  # rows outside the slice removed: synced to disk, as drops are
                pending = self._pending(session)
                local = session.scalars(select(entity.table.c.id)).all()
                extra = [i for i in local if i not in keep and (name, str(i)) not in pending]
                for start in range(0, len(extra), 500):
                    _delete_rows(session, entity, extra[start:start + 500])
                cursors = read_state(session, "cursors")
                cursors.pop(name, None)
                write_state(session, "cursors", cursors)
            result.repaired.append(name)
        self.trust_versions = False  # drifted: every row the hub sends is written again, whatever its version
        try:
            self.pull(result)
        finally:
            self.trust_versions = True
        self.check_digest(result, repair=False)


def _drops_from(state: dict[str, Any]) -> int:
    since = int(state.get("since", 0))
    read_at = int(state.get("read_at", 0)) or since
    return max(0, min(since, read_at - OVERLAP))


def pull_page_rows() -> int:
    """Rows a pull asks for per page: LIANFU_SYNC_PULL_PAGE, at most the hub's page (smaller pages suit a link that
    drops long answers: each page is applied and kept as it comes)."""
    try:
        wanted = int(os.environ.get("LIANFU_SYNC_PULL_PAGE", PULL_PAGE_ROWS))
    except ValueError:
        wanted = PULL_PAGE_ROWS
    return max(MIN_PULL_PAGE_ROWS, min(wanted, PULL_PAGE_ROWS))


def resume_from(saved: list[Any]) -> list[Any]:
    """Where a pull of one entity starts again: exactly at its cursor, unless rows still being committed when that
    page was read could lie below it (then a little earlier; what comes twice applies as a no-op)."""
    version = int(saved[0])
    read_at = int(saved[2]) if len(saved) > 2 else version
    start = min(version, read_at - OVERLAP)
    if start >= version:
        return [version, saved[1]]
    if len(saved) > 3 and saved[3]:
        # The rows up to the cursor that the read saw are skipped (SEEN in sync/wire.py).
        return [max(0, start), "", version, saved[1], int(saved[3])]
    return [max(0, start), ""]


def _delete_rows(session: Session, entity: Entity, ids: list[uuid.UUID]) -> None:
    """Delete rows that left this spoke, with what this node derived from them (a case's unit assignments, whom a
    bulletin was addressed to here and its files; the node's own reminders and acknowledgements stay its record)."""
    if entity.name == "case_record":
        session.execute(delete(CaseUnit).where(CaseUnit.case_id.in_(ids)))
    elif entity.name == "bulletin":
        session.execute(delete(BulletinAudience).where(BulletinAudience.bulletin_id.in_(ids)))
        session.execute(delete(Attachment).where(Attachment.entity_type == "bulletin", Attachment.entity_id.in_(ids)))
    session.execute(delete(entity.table).where(entity.table.c.id.in_(ids)))


def status(db: Database) -> dict[str, Any]:
    """What `lianfu sync status` and the spoke's sync page show."""
    with db.reads() as session:
        state = read_state(session, "status")
        count, oldest = session.execute(select(func.count(), func.min(SyncOutbox.created_at))).one()
    lag = 0.0
    if count and oldest is not None:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc)
        lag = max(0.0, (utcnow() - oldest).total_seconds())
    return {"last_success": state.get("last_success"), "last_error": state.get("last_error"),
            "last_error_at": state.get("last_error_at"), "last_attempt": state.get("last_attempt"),
            "queued": int(count or 0), "lag_seconds": round(lag, 1), "open_conflicts": state.get("open_conflicts", 0),
            "last_round": state.get("last_round"), "rejected": state.get("rejected", [])[-10:]}

