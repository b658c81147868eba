"""The hub's side of sync: a spoke's batch applied (checked, merged field by field), its scope served, digests compared.

scope (a spoke's scope), push (a batch applied) with push_checks, merge and rows, pull (pages and drops), marks (the
triggers' summary of a scope), rounds (a round as the hub serves it), peers (the spoke's peer row), conflicts (the
office's decision).
"""
from sync.hub.conflicts import resolve_conflict
from sync.hub.marks import Marks, digests, digests_counted, read_marks, scoped_ids
from sync.hub.peers import peer
from sync.hub.pull import drops_since, not_seen, pull_page
from sync.hub.push import apply_push
from sync.hub.rounds import Asker, QuietRound, check_digest, note_pull, notes_pull, read_pull
from sync.hub.scope import BY_AUDIENCE, CHECKSUM_MODULUS, spoke_principal

__all__ = [
    "Asker", "BY_AUDIENCE", "CHECKSUM_MODULUS", "Marks", "QuietRound", "apply_push", "check_digest", "digests",
    "digests_counted", "drops_since", "not_seen", "note_pull", "notes_pull", "peer", "pull_page", "read_marks",
    "read_pull", "resolve_conflict", "scoped_ids", "spoke_principal",
]
