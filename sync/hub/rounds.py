"""A spoke's round as the hub serves it: a pull page (a quiet round answered from the marks), the digest's verdict,
and the round's mark on the spoke's peer row."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from common.clock import clock
from common.policy import Principal
from sync.cursors import answered, seen_position, start_position
from sync.hub.marks import Marks, read_marks
from sync.hub.peers import note_round, peer, round_noted, round_values
from sync.hub.pull import drops_since, pull_page
from sync.wire import PULL_PAGE_ROWS, DigestRequest, PullAnswer, PullRequest


@dataclass
class Asker:
    """Who asks, as the request's headers say: the spoke's protocol, and its schema revision."""

    protocol: int
    schema: str
    # From this protocol on, the spoke takes the horizons of its cursors (see SEEN in sync/wire.py).
    horizons: bool = False


@dataclass
class QuietRound:
    """A round with nothing to do, answered from the marks; `values`: what to note on the spoke's peer row (None:
    the row already says it, noted less than PEER_REFRESH seconds ago)."""

    values: dict[str, Any] | None


def mismatched(found: Marks, theirs: DigestRequest) -> list[str]:
    """The entities whose digest at the spoke differs from the hub's view of its scope."""
    return sorted(name for name, value in found.digest.items() if theirs.digests.get(name) != value)


def check_digest(session: Session, asker: Asker, spoke: Principal, theirs: DigestRequest) -> dict[str, Any]:
    """Compare a spoke's digest with the hub's view of its scope; a match is the end of a successful round."""
    found = read_marks(session, spoke)
    differ = mismatched(found, theirs)
    note_round(session, spoke.node_id, round_values(asker.schema, theirs.queued, theirs.lag_seconds, differ))
    return {"mismatched": differ, "open_conflicts": found.conflicts}


def _quiet_round(session: Session, asker: Asker, spoke: Principal, wanted: PullRequest, found: Marks,
                 read_at: int) -> tuple[PullAnswer, QuietRound] | None:
    """A round with nothing to do, answered from the marks the triggers keep (`found`, read after `read_at`): no
    table is read. None when the marks show something after the spoke's cursors (an ordinary pull follows)."""
    if wanted.digest is None or wanted.drops_since is None:
        return None
    if not found.nothing_after(wanted.cursors) or found.moved > wanted.drops_since:
        return None
    cursors = {}
    for name, value in wanted.cursors.items():
        # Nothing after the cursor, nor then between it and the rows seen before (see SEEN).
        start, seen = start_position(value), seen_position(value) if asker.horizons else None
        cursors[name] = answered(max(start, seen[0]) if seen else start, read_at,
                                 found.horizon if asker.horizons else None)
    answer = PullAnswer(rows=[], cursors=cursors, more=False, read_at=read_at, drops_cursor=wanted.drops_since,
                        drops_checked=True)
    differ = mismatched(found, wanted.digest)
    answer.digest = {"mismatched": differ, "open_conflicts": found.conflicts}
    values = round_values(asker.schema, wanted.digest.queued, wanted.digest.lag_seconds, differ)
    return answer, QuietRound(None if round_noted(found.peer, values) else values)


def read_pull(session: Session, asker: Asker, spoke: Principal,
              wanted: PullRequest) -> tuple[PullAnswer, QuietRound | None]:
    """A pull page of the spoke's scope after its cursors; with it, for a quiet round, what to note on its peer row
    (None: an ordinary page)."""
    limit = max(1, min(wanted.limit, PULL_PAGE_ROWS))
    read_at = clock.now()  # before the marks: see OVERLAP in sync/wire.py
    found = read_marks(session, spoke)
    quiet = _quiet_round(session, asker, spoke, wanted, found, read_at)
    if quiet is not None:
        quiet[0].directory = found.directory
        return quiet
    answer = pull_page(session, spoke, wanted.cursors, limit, found, read_at, asker.horizons)
    answer.directory = found.directory
    if not answer.more and wanted.drops_since is not None:
        if found.moved > wanted.drops_since:
            answer.drops, answer.drops_cursor = drops_since(session, spoke, wanted.drops_since)
        else:
            # The marks show no move out of the scope's nodes after the spoke's look (as a quiet round tells).
            answer.drops, answer.drops_cursor = [], wanted.drops_since
        answer.drops_checked = True
    if settles(wanted, answer) and (answer.rows or answer.drops or wanted.digest is None):
        # The spoke compares this with its own digest once the page and the drops are applied (its digest sent with
        # the request is from before them), and asks for a verdict only when they differ: the round ends without
        # another request.
        answer.hub_digest, answer.open_conflicts = found.digest, found.conflicts
    return answer, None


def settles(wanted: PullRequest, answer: PullAnswer) -> bool:
    """Whether this page ends the spoke's round (its last, when the round's digest is compared)."""
    return (wanted.digest is not None or wanted.want_digest) and not answer.more


def notes_pull(answer: PullAnswer, wanted: PullRequest, quiet: QuietRound | None) -> bool:
    """Whether serving this page writes to the spoke's peer row."""
    return quiet.values is not None if quiet is not None else bool(answer.rows) or settles(wanted, answer)


def note_pull(session: Session, asker: Asker, node_id: str, spoke: Principal, wanted: PullRequest, answer: PullAnswer,
              quiet: QuietRound | None) -> None:
    """The page's mark on the spoke's peer row (rows pulled, cursor, a round's success), in the caller's transaction."""
    if not notes_pull(answer, wanted, quiet):
        return
    if quiet is not None:
        assert quiet.values is not None
        note_round(session, spoke.node_id, quiet.values)
        return
    record = peer(session, node_id)
    record.pulled_total += len(answer.rows)
    record.cursor = max([record.cursor, *(int(c[0]) for c in answer.cursors.values() if c)])
    if settles(wanted, answer) and answer.hub_digest is None:
        answer.digest = check_digest(session, asker, spoke, wanted.digest or DigestRequest({}))
    elif settles(wanted, answer):
        theirs = wanted.digest or DigestRequest({})
        values = round_values(asker.schema, theirs.queued, theirs.lag_seconds, [])
        record.queued, record.lag_seconds, record.schema = values["queued"], values["lag_seconds"], values["schema"]
        record.digest_ok, record.last_success_at = True, record.last_seen_at
