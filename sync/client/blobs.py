"""Attachments' bytes: sent after their rows (resuming where the hub's copy stops), fetched when first opened."""
from __future__ import annotations

from pathlib import Path

from common.attachments.blobs import BlobStore
from common.db import Database
from sync.client.hub_calls import HubCalls
from sync.client.result import RoundResult
from sync.client.state import BlobUploads, load, save
from sync.fastpath import relaxed_transaction

BLOB_CHUNK = 1024 * 1024


class Blobs:
    def __init__(self, db: Database, hub: HubCalls, data_dir: Path) -> None:
        self.db = db
        self.hub = hub
        self.data_dir = data_dir

    def upload(self, result: "RoundResult") -> None:
        """Send the files whose rows the hub has acknowledged; each let go of once the hub holds it whole."""
        store = BlobStore(self.data_dir / "blobs")
        with self.db.reads() as session:
            pending = list(load(session, BlobUploads).pending)
        for sha in pending:
            if store.has(sha):
                self._upload(store, sha)
            with relaxed_transaction(self.db) as session:
                uploads = load(session, BlobUploads)
                save(session, BlobUploads(pending=[x for x in uploads.pending if x != sha]))
            result.files_sent += 1

    def _upload(self, store: BlobStore, sha: str) -> None:
        """Send a file from where the hub's copy stops; the hub checks the whole against its name at the end."""
        path = f"/api/v1/sync/blobs/{sha}"
        response = self.hub.link.call("HEAD", path, headers=self.hub.blob_headers(), raw=True, want_response=True)
        if response.headers.get("Blob-Complete") == "1":
            return
        offset = int(response.headers.get("Upload-Offset", "0"))
        size = store.offset(sha)
        with store.open(sha) as handle:
            handle.seek(offset)
            while True:
                chunk = handle.read(BLOB_CHUNK)
                last = offset + len(chunk) >= size
                headers = {**self.hub.blob_headers(), "Upload-Offset": str(offset),
                           "Content-Type": "application/octet-stream"}
                if last:
                    headers["Upload-Complete"] = "1"
                answer = self.hub.link.call("PUT", path, content=chunk, headers=headers, timeout=300)
                offset = int(answer.get("offset", offset + len(chunk)))
                if last:
                    return

    def fetch(self, sha: str) -> None:
        """Bring a file from the hub on first use, resuming a transfer cut off before; checked before it is kept."""
        store = BlobStore(self.data_dir / "blobs")
        if store.has(sha):
            return
        offset = store.offset(sha)
        headers = {**self.hub.blob_headers(), "Range": f"bytes={offset}-"}
        content = self.hub.link.call("GET", f"/api/v1/sync/blobs/{sha}", headers=headers, raw=True, timeout=300)
        store.append(sha, offset, content)
        store.complete(sha)
