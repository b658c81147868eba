"""A spoke's sync round: push its outbox, pull its scope, drop what left it, then check the digest with the hub.

Every step is a checkpoint: an acknowledged batch leaves the outbox in the transaction that records the answer,
a pulled page is applied in the transaction that moves the cursor. A round cut off anywhere resumes from there.
"""
from __future__ import annotations

import fcntl
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import msgspec

from common.db import Database
from common.settings import Settings
from sync.client import status as round_status
from sync.client.blobs import Blobs
from sync.client.result import Progress, RoundResult
from sync.client.checkpoint import Background, checkpoint_later
from sync.client.digest import WAITING, Digest, local_digests
from sync.client.directory import DIRECTORY_REFRESH, Directory
from sync.client.drops import Drops
from sync.client.heal import Heal, HubLineage, moved_lineage
from sync.client.hub_calls import HubCalls
from sync.client.inbox import FirstPage, Inbox, pull_page_rows
from sync.client.outbox import Outbox
from sync.client.state import BlobUploads, DirectoryCopy, Epoch, InFlight, Snapshot, read_all, save
from sync.fastpath import relaxed_transaction, run_compiled
from sync.hub_link import HubLink, HubRefused, HubUnreachable
from sync.wire import LINEAGE_HEADER

class SyncBusy(Exception):
    """Another sync of this spoke is running."""


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


class SpokeSync:
    """The spoke's sync client: its rounds with the hub, and the parts a round is made of (outbox, inbox, drops,
    digest, blobs, directory), each usable alone."""

    def __init__(self, db: Database, link: HubLink, data_dir: Path, node_id: str, progress: Progress | None = None,
                 directory_refresh: float = DIRECTORY_REFRESH, pull_page: int | None = None) -> None:
        """`directory_refresh`: seconds between two readings of the directory in any case; `pull_page`: rows a pull
        asks for per page (at most the hub's page, the hub's when None)."""
        self.db = db
        self.link = link
        self.data_dir = data_dir
        self.node_id = node_id
        self.progress = progress or (lambda phase, done, total: None)
        self.hub = HubCalls(link)
        self.inbox = Inbox(db, self.hub, self.progress, pull_page_rows(pull_page))
        self.outbox = Outbox(db, self.hub, self.inbox, self.progress)
        self.drops = Drops(db, self.hub)
        self.digest = Digest(db, self.hub, self.inbox)
        self.inbox.drops, self.inbox.digest = self.drops, self.digest
        self.blobs = Blobs(db, self.hub, data_dir)
        self.directory = Directory(db, self.hub, data_dir, node_id, directory_refresh)
        self.heal = Heal(db, self.hub, data_dir, self.progress)
        # The WAL's checkpoint after the last round that wrote, running in the background (None: none started).
        self.checkpointing: Background | None = None

    @classmethod
    def for_settings(cls, db: Database, settings: Settings, link: HubLink,
                     progress: Progress | None = None) -> "SpokeSync":
        """The spoke's client as the scheduler, the sync page and `lianfu sync` run it, with the node's settings."""
        return cls(db, link, settings.data_dir, settings.node_id, progress,
                   directory_refresh=settings.sync.directory_refresh_seconds,
                   pull_page=settings.sync.pull_page_rows or None)

    def round(self, wait: float = 0.0) -> RoundResult:
        """One round; `wait` seconds for a round under way (the scheduler's) to end first."""
        result = RoundResult()
        started = time.monotonic()
        snapshot: Snapshot | None = None
        try:
            with exclusive(self.data_dir, wait):
                try:
                    snapshot = self._round(result)
                except HubRefused as refused:
                    # Restored from an older backup: the hub gets back what it lost of this scope, then the round.
                    moved = moved_lineage(refused)
                    known = self.hub.headers.get(LINEAGE_HEADER)
                    if moved is None or known is None:
                        raise
                    self.heal.run(result, known, moved)
                    self._round(result)
                    snapshot = None
                result.ok = True
        except SyncBusy as exc:
            result.error, result.busy = str(exc), True
        except (HubUnreachable, HubRefused) as exc:
            result.error = str(exc)
            self.hub.report(result.error)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, KeyError, OSError) as exc:
            # An answer cut short or not the hub's (a proxy's page): this round failed, the next one starts again.
            result.error = f"the hub's answer could not be read: {type(exc).__name__}: {exc}"[:500]
            self.hub.report(result.error)
        result.seconds = time.monotonic() - started
        quiet = snapshot is not None and result.ok and not snapshot.waiting and not (
            result.pulled or result.dropped or result.repaired)
        if quiet:
            result.queued, result.lag_seconds = 0, 0.0  # nothing waited, nothing came: as the round began
        round_status.remember(self.db, result, snapshot if quiet else None, count_queue=not quiet)
        if result.ok and (result.pushed or result.pulled or result.dropped or result.repaired):
            self.checkpointing = checkpoint_later(self.db) or self.checkpointing
        return result

    def _round(self, result: RoundResult) -> Snapshot | None:
        """The round's work (see round); its snapshot when nothing was written since it was read, else None."""
        snapshot: Snapshot | None = self.look()
        assert snapshot is not None
        first = snapshot
        lineage = snapshot.get(HubLineage).token
        if lineage:
            self.hub.headers[LINEAGE_HEADER] = lineage
        self.outbox.known_epoch = snapshot.get(Epoch).token or None
        in_flight = bool(snapshot.get(InFlight))
        round_status.note_attempt(self.db, snapshot, in_flight)
        first_page: FirstPage | None = None
        if snapshot.waiting or in_flight:
            first_page = self.inbox.first_page(snapshot)
            self.outbox.push(result, first_page, note_attempt=True)
            snapshot = None  # written since
        if snapshot is None or snapshot.get(BlobUploads).pending:
            self.blobs.upload(result)
        settled = self.inbox.pull_round(result, snapshot, first_page)
        if not settled.drops:
            self.drops.look(result)
        if not settled.digest:
            self.digest.check(result)
        self.directory.refresh(self.inbox.hub_directory, copy=first.get(DirectoryCopy))
        answered = self.inbox.hub_lineage
        if answered and answered != lineage:
            # The first round with a hub that names its lineage: kept from now on.
            with relaxed_transaction(self.db) as session:
                save(session, HubLineage(token=answered))
            self.hub.headers[LINEAGE_HEADER] = answered
            snapshot = None
        return snapshot

    def look(self) -> Snapshot:
        """The sync state, the outbox and the slice's digest as one transaction sees them."""
        with self.db.reads() as session:
            stored = read_all(session)
            count = int(run_compiled(session, WAITING).scalar() or 0)
            digests = local_digests(session) if not count else None
        return Snapshot(stored, count, digests)

    # The parts, for a caller that wants one alone (the sync page, a test, the benchmarks).

    def push(self, result: RoundResult) -> None:
        """The outbox pushed alone (no pull page asked for with the last batch)."""
        self.outbox.push(result)

    def pull(self, result: RoundResult) -> None:
        self.inbox.pull(result)

    def refresh_directory(self, force: bool = False) -> None:
        self.directory.refresh(self.inbox.hub_directory, force=force)

    def fetch_blob(self, sha: str) -> None:
        self.blobs.fetch(sha)

    def queue(self) -> tuple[int, float]:
        with self.db.reads() as session:
            return round_status.queue_of(session)
