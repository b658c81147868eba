"""Push: the spoke's outbox sent to the hub batch by batch, each acknowledged batch let go of in one transaction."""
from __future__ import annotations

import uuid
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from common.db import Database
from common.models import SyncOutbox, utcnow
from sync import bulk
from sync.client.hub_calls import HubCalls
from sync.client.result import Progress, RoundResult
from sync.client.state import BlobUploads, Epoch, InFlight, Status, load, save
from sync.entities import BY_NAME
from sync.fastpath import relaxed_transaction
from sync.wire import MAX_BATCH_BYTES, MAX_BATCH_ROWS, Change, PushAnswer, PushBatch, decode, fits

if TYPE_CHECKING:
    from sync.client.inbox import FirstPage, Inbox

# Columns a made row does not send: the hub keeps its own versions and who pushed it.
SENT_NOT = frozenset({"version", "field_versions", "pushed_by", "pushed_version"})


class Prepared(NamedTuple):
    """A batch ready to send: with its outbox entries, whether it is one sent before and never answered, and whether
    it holds the outbox's last entries as read."""

    batch: PushBatch
    entries: list[Any]
    resent: bool
    last: bool


class Outbox:
    def __init__(self, db: Database, hub: HubCalls, inbox: "Inbox", progress: "Progress") -> None:
        self.db = db
        self.hub = hub
        self.inbox = inbox
        self.progress = progress
        # The spoke database's epoch, once known (the round's snapshot has it).
        self.known_epoch: str | None = None

    def push(self, result: "RoundResult", first_page: "FirstPage | None" = None, note_attempt: bool = False) -> None:
        """Send the outbox batch by batch; each next batch is read and built while the hub applies the one before
        (the two machines work at once), and sent only once that one is acknowledged. With `first_page`, the last
        batch asks for the round's first pull page too (see FirstPage). With `note_attempt`, the round's start is
        noted with the first batch."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lianfu-push") as pool:
            ahead: Future[Prepared | None] | None = None
            while True:
                if ahead is not None:
                    prepared, marked = ahead.result(), False
                else:
                    # The first batch is read and marked in flight in one transaction.
                    prepared, marked = self._next_batch(None, mark=True, note_attempt=note_attempt), True
                    note_attempt = False
                ahead = None
                if prepared is None:
                    return
                if not prepared.resent and not marked:
                    with relaxed_transaction(self.db) as session:
                        _mark_in_flight(session, prepared.batch, prepared.entries, note_attempt)
                    note_attempt = False
                if prepared.last and not prepared.resent:
                    # The outbox's last as read (what is written meanwhile goes next round).
                    self._send(result, prepared.batch, prepared.entries, first_page)
                    return
                ahead = pool.submit(self._next_batch, prepared.entries[-1].seq)
                self._send(result, prepared.batch, prepared.entries)

    def _next_batch(self, after: int | None, mark: bool = False, note_attempt: bool = False) -> Prepared | None:
        """The next batch: the entries after seq `after`; with None, a batch sent before whose answer never came
        (in flight: the same entries again under the same id, so the hub answers it from its record instead of
        merging the rows a second time), else the first entries. With `mark`, a new batch is marked in flight (see
        _mark_in_flight) in the transaction that reads it."""
        epoch = self.epoch()  # (made, the first time, in a transaction of its own)
        with (relaxed_transaction(self.db) if mark else self.db.reads()) as session:
            in_flight = load(session, InFlight) if after is None else InFlight()
            # Rows, not ORM objects: only read, and a batch holds up to MAX_BATCH_ROWS of them.
            outbox = SyncOutbox.__table__
            query = select(outbox).order_by(outbox.c.seq).limit(MAX_BATCH_ROWS)
            if in_flight:
                query = query.where(outbox.c.seq >= in_flight.first, outbox.c.seq <= in_flight.last)
            elif after is not None:
                query = query.where(outbox.c.seq > after)
            entries = list(session.execute(query).all())
            if not entries and in_flight:
                entries = list(session.execute(select(outbox).order_by(outbox.c.seq).limit(MAX_BATCH_ROWS)).all())
                in_flight = InFlight()
            if not entries:
                return None
            changes = _changes(session, entries)
            last = len(entries) < MAX_BATCH_ROWS
            if in_flight:
                return Prepared(PushBatch(batch_id=str(in_flight.batch_id), changes=changes, upto=entries[-1].seq),
                                entries, True, False)
            batch = PushBatch(batch_id=f"{epoch}-{entries[0].seq}-{entries[-1].seq}", changes=changes,
                              upto=entries[-1].seq)
            while not fits(batch, MAX_BATCH_BYTES) and len(entries) > 1:
                last = False
                entries = entries[: len(entries) // 2]
                batch = PushBatch(batch_id=f"{epoch}-{entries[0].seq}-{entries[-1].seq}",
                                  changes=_changes(session, entries), upto=entries[-1].seq)
            if mark:
                _mark_in_flight(session, batch, entries, note_attempt)
        return Prepared(batch, entries, False, last)

    def _send(self, result: "RoundResult", batch: PushBatch, entries: list[Any],
              first_page: "FirstPage | None" = None) -> None:
        """One batch to the hub; its answer acknowledged in one transaction, with the first pull page it asked for
        applied there."""
        if first_page is not None:
            batch.pull = first_page.request
        answer: PushAnswer = decode(self.hub.raw("POST", "/api/v1/sync/push", batch), PushAnswer)
        refused = {(r.entity, r.id) for r in answer.rejected}
        files = [str(c.values.get("sha256")) for c in batch.changes
                 if c.entity == "attachment" and c.made and (c.entity, c.id) not in refused]
        with relaxed_transaction(self.db) as session:
            # Acknowledged: these entries are the hub's now (applied, merged or in a conflict record).
            session.execute(delete(SyncOutbox).where(SyncOutbox.seq >= entries[0].seq, SyncOutbox.seq <= answer.upto))
            _stamp(session, answer.stamps)
            save(session, InFlight())
            if files:
                # Their rows are at the hub: their bytes follow, in the same round or a later one.
                uploads = load(session, BlobUploads)
                save(session, BlobUploads(pending=sorted(set(uploads.pending) | set(files))))
            if first_page is not None and answer.page is not None:
                first_page.came(session, answer.page, self.inbox)
        result.pushed += answer.applied
        result.conflicts += answer.conflicts
        result.rejected.extend({"entity": r.entity, "id": r.id, "reason": r.reason} for r in answer.rejected)
        self.progress("push", result.pushed, None)
        if first_page is not None and first_page.page is not None:
            result.pulled += len(first_page.page.rows)
            self.progress("pull", result.pulled, None)

    def epoch(self) -> str:
        """A token made once per spoke database: its batch ids never repeat those of an earlier machine."""
        if self.known_epoch:
            return self.known_epoch
        with self.db.reads() as session:
            token = load(session, Epoch).token
        if token:
            return str(token)
        with self.db.transaction() as session:
            epoch = load(session, Epoch)
            if not epoch.token:
                epoch = Epoch(token=uuid.uuid4().hex[:12])
                save(session, epoch)
            return str(epoch.token)


def _mark_in_flight(session: Session, batch: PushBatch, entries: list[Any], note_attempt: bool) -> None:
    """The batch about to be sent, so one whose answer never comes goes again under its id (and, with
    `note_attempt`, the round's start)."""
    save(session, InFlight(batch_id=batch.batch_id, first=entries[0].seq, last=entries[-1].seq))
    if note_attempt:
        status = load(session, Status)
        status.last_attempt = utcnow().isoformat()
        save(session, status)


def _stamp(session: Session, stamps: list[list[Any]]) -> None:
    """The hub's version and time on the rows it took exactly as they are here (it will not send them back). Each
    stamp on the wire: [entity, id, version, updated_at]."""
    by_entity: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entity_name, row_id, version, updated_at in stamps:
        if entity_name in BY_NAME:
            by_entity[entity_name].append({"id": uuid.UUID(str(row_id)), "version": int(version),
                                           "updated_at": datetime.fromisoformat(str(updated_at))})
    for entity_name, rows in by_entity.items():
        bulk.update_rows(session, BY_NAME[entity_name].table, rows, ["version", "updated_at"])


def _changes(session: Session, entries: list[Any]) -> list[Change]:
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
        table = BY_NAME[entity_name].table
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
