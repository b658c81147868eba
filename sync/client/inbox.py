"""Pull: the hub's pages of the spoke's slice, each applied in the transaction that moves the cursors on."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from common.db import Database
from sync.client import apply
from sync.client.hub_calls import HubCalls
from sync.client.result import Progress, RoundResult
from sync.client.state import DropsCursor, Snapshot, load, load_cursors, save_cursors
from sync.cursors import Cursor, next_start, resume_from
from sync.fastpath import gc_paused, relaxed_transaction
from sync.wire import PULL_PAGE_ROWS, PullAnswer, PullRequest, decode

if TYPE_CHECKING:
    from sync.client.digest import Digest
    from sync.client.drops import Drops

# The smallest page a spoke asks for, whatever it is told.
MIN_PULL_PAGE_ROWS = 20


def pull_page_rows(wanted: int | None = None) -> int:
    """Rows a pull asks for per page: `wanted`, at most the hub's page (smaller pages suit a link that drops long
    answers: each page is applied and kept as it comes)."""
    return max(MIN_PULL_PAGE_ROWS, min(wanted or PULL_PAGE_ROWS, PULL_PAGE_ROWS))


@dataclass
class FirstPage:
    """The one speed shortcut that spans push and pull: a round's last push batch asks for the round's first pull
    page (one request, not two), and the page is applied in the transaction that takes the batch's
    acknowledgement. `request`: the pull asked for; `saved`: the cursors as stored, then as saved after the page;
    `page`: the page, once it came (the pull goes on after it)."""

    request: PullRequest
    saved: dict[str, Cursor]
    page: PullAnswer | None = None

    def came(self, session: Session, page: PullAnswer, inbox: "Inbox") -> None:
        if page.rows or cursors_move(self.saved, page):
            inbox.apply_rows(session, page)
            self.saved = _save_cursors(session, page)
        self.page = page


@dataclass
class Settled:
    """What the last page of a round's pull answered besides rows: the drops, the digest's verdict."""

    drops: bool = False
    digest: bool = False


class Inbox:
    def __init__(self, db: Database, hub: HubCalls, progress: "Progress", page_rows: int) -> None:
        self.db = db
        self.hub = hub
        self.progress = progress
        self.page_rows = page_rows
        # Whether a pulled row held here at its version is left as it is (see apply.held); not while repairing a drift.
        self.trust_versions = True
        # The hub's tag of this spoke's directory, from the last pull page of the round (None: a hub that sends none).
        self.hub_directory: str | None = None
        # The hub's lineage as its pages name it (sync/hub/lineage.py; None: a hub that sends none).
        self.hub_lineage: str | None = None
        # Set by the round (drops and digest settle with the last page).
        self.drops: "Drops | None" = None
        self.digest: "Digest | None" = None

    def first_page(self, snapshot: Snapshot | None = None) -> FirstPage:
        """The pull a round's last batch asks for: from the cursors, with the drops; the hub's digest with the last
        page (this spoke's changes to the slice are made by then). Only a pull writes the cursors and drops, so the
        round's snapshot still holds them."""
        if snapshot is not None:
            saved, drops = snapshot.cursors, snapshot.get(DropsCursor)
        else:
            with self.db.reads() as session:
                saved, drops = load_cursors(session), load(session, DropsCursor)
        request = PullRequest(cursors=_starts(saved), limit=self.page_rows, drops_since=drops.next_look(),
                              want_digest=True)
        return FirstPage(request, saved)

    def pull(self, result: "RoundResult") -> None:
        """Pull pages until the last, from the cursors as stored."""
        with self.db.reads() as session:
            saved = load_cursors(session)
        page = self._pages(result, saved, _starts(saved), {})
        if page.directory is not None:
            self.hub_directory = page.directory

    def pull_round(self, result: "RoundResult", snapshot: Snapshot | None = None,
                   first_page: FirstPage | None = None) -> Settled:
        """A round's pull: the first page also carries the drops cursor and the digest, and the last page may settle
        them (a round with nothing to do is this one request). `snapshot`: the round's, when nothing was written
        since it was read. `first_page`: asked for by the push's last batch (the pull goes on after it)."""
        assert self.drops is not None and self.digest is not None
        extra: dict[str, Any] = {}
        page: PullAnswer | None = None
        if first_page is not None and first_page.page is not None:
            page, saved = first_page.page, first_page.saved
            starts = dict(first_page.request.cursors)
            extra = {"drops_since": first_page.request.drops_since, "want_digest": True}
        else:
            if first_page is not None:
                saved = first_page.saved
            elif snapshot is not None:
                saved = snapshot.cursors
            else:
                with self.db.reads() as session:
                    saved = load_cursors(session)
            starts = _starts(saved)
            if snapshot is not None:
                extra["drops_since"] = snapshot.get(DropsCursor).next_look()
                digest = ({"digests": snapshot.digests, "queued": 0, "lag_seconds": 0.0}
                          if snapshot.digests is not None else None)
            else:
                extra["drops_since"] = self.drops.next_look()
                digest = self.digest.request()
            if digest is not None:
                extra["digest"] = digest
        page = self._pages(result, saved, starts, extra, page)
        if page.directory is not None:
            self.hub_directory = page.directory
        settled = Settled()
        if page.drops_checked:
            self.drops.apply(result, page.drops, page.drops_cursor, page.read_at,
                             snapshot.get(DropsCursor) if snapshot is not None else None)
            settled.drops = True
        if page.digest is not None:
            self.digest.verdict(result, page.digest)
            settled.digest = True
        elif page.hub_digest is not None and self.digest.agrees(page.hub_digest):
            result.open_conflicts = int(page.open_conflicts or 0)
            settled.digest = True
        return settled

    def _pages(self, result: "RoundResult", saved: dict[str, Cursor], starts: dict[str, list[Any]],
               extra: dict[str, Any], page: PullAnswer | None = None) -> PullAnswer:
        """Ask for pages after `starts` until the last (from after `page`, when one came already); each applied and
        its cursors saved in one transaction. The last page."""
        while True:
            if page is None:
                with gc_paused():
                    page = decode(self.hub.raw("POST", "/api/v1/sync/pull",
                                               {"cursors": starts, "limit": self.page_rows, **extra}), PullAnswer)
                if page.rows or cursors_move(saved, page):
                    with relaxed_transaction(self.db) as session:
                        self.apply_rows(session, page)
                        saved = _save_cursors(session, page)
                result.pulled += len(page.rows)
                self.progress("pull", result.pulled, None)
            if page.lineage is not None:
                self.hub_lineage = page.lineage
            starts.update({name: next_start(Cursor.from_wire(value)).to_wire() for name, value in page.cursors.items()})
            if not page.more:
                return page
            page = None
            if "digest" in extra:
                # Rows were applied since the digest was taken: the last page brings the hub's for a comparison here.
                del extra["digest"]
                extra["want_digest"] = True

    def apply_rows(self, session: Session, page: PullAnswer) -> None:
        apply.apply_page(session, page, self.trust_versions)


def _starts(saved: dict[str, Cursor]) -> dict[str, list[Any]]:
    """Where the pull of each entity starts again, on the wire."""
    return {name: resume_from(cursor).to_wire() for name, cursor in saved.items()}


def _save_cursors(session: Session, page: PullAnswer) -> dict[str, Cursor]:
    """Where the next pull starts, moved on by a page applied in the same transaction."""
    merged = load_cursors(session)
    for name, value in page.cursors.items():
        cursor = Cursor.from_wire(value)
        if len(value) in (3, 4) and (name not in merged or cursor.version >= merged[name].version):
            merged[name] = cursor
    save_cursors(session, merged)
    return merged


def cursors_move(saved: dict[str, Cursor], page: PullAnswer) -> bool:
    """Whether an empty page changes where the next pull starts (a quiet round then writes nothing)."""
    for name, value in page.cursors.items():
        if len(value) not in (3, 4):
            continue
        cursor, old = Cursor.from_wire(value), saved.get(name)
        if old is None or cursor.version > old.version or resume_from(cursor) != resume_from(old):
            return True
    return False

