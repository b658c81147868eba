"""The directory's refresh: the nodes around this one, its accounts and the office's lists, taken again when due."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from common.db import Database
from common.models import utcnow
from sync.client.hub_calls import HubCalls
from sync.client.state import DirectoryCopy, load, save
from sync.directory import apply_directory, keep_checkpoint

# Seconds between two readings of the directory when its tag does not change meanwhile.
DIRECTORY_REFRESH = 300.0


class Directory:
    def __init__(self, db: Database, hub: HubCalls, data_dir: Path, node_id: str,
                 refresh_every: float = DIRECTORY_REFRESH) -> None:
        self.db = db
        self.hub = hub
        self.data_dir = data_dir
        self.node_id = node_id
        self.refresh_every = refresh_every

    def refresh(self, hub_tag: str | None, force: bool = False, copy: DirectoryCopy | None = None) -> None:
        """Take the directory again when the hub's tag of it (`hub_tag`, with the round's last page) is not the one
        taken with this copy, and every `refresh_every` seconds in any case. `copy`: the directory's sync state as
        the round's snapshot read it."""
        if copy is None:
            with self.db.reads() as session:
                copy = load(session, DirectoryCopy)
        now = utcnow()
        due = force or not copy.at or (now - datetime.fromisoformat(copy.at)).total_seconds() >= self.refresh_every \
            or (hub_tag is not None and hub_tag != copy.tag)
        if not due:
            return
        payload = self.hub.call("GET", "/api/v1/sync/directory")
        # Synced to disk: a person the office disabled stays disabled here through a power cut.
        with self.db.transaction() as session:
            apply_directory(session, payload, self.node_id)
            # The hub's tag as read before this copy: a change since then shows as another tag next round.
            save(session, DirectoryCopy(at=now.isoformat(), tag=hub_tag or copy.tag))
        keep_checkpoint(self.data_dir, payload.get("audit_checkpoint"))
