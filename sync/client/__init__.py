"""The spoke's sync client: its rounds with the hub, one module per part of a round.

round (the round and its lock), status (the rounds' record), outbox (push), inbox (pull) and apply (writing what
the hub sends), drops, digest, blobs (attachments' bytes), directory (its refresh), state (the typed sync state),
hub_calls (the requests), checkpoint (the WAL folded back after a round).
"""
from sync.client.result import Progress, RoundResult
from sync.client.round import SpokeSync, SyncBusy, exclusive
from sync.client.state import read_state
from sync.client.status import status

__all__ = ["Progress", "RoundResult", "SpokeSync", "SyncBusy", "exclusive", "read_state", "status"]
