"""The spoke's requests to the hub's sync API, each with the protocol version and schema revision in its headers."""
from __future__ import annotations

from typing import Any

from common.migrate import head_and_previous
from sync.hub_link import HubLink, HubRefused, HubUnreachable
from sync.wire import PROTOCOL, PROTOCOL_HEADER, SCHEMA_HEADER, encode


class HubCalls:
    def __init__(self, link: HubLink) -> None:
        self.link = link
        head, _ = head_and_previous()
        self.headers = {PROTOCOL_HEADER: str(PROTOCOL), SCHEMA_HEADER: head, "Content-Type": "application/json",
                        "Content-Encoding": "gzip"}

    def call(self, method: str, path: str, payload: Any = None, **kwargs: Any) -> Any:
        """A call whose JSON answer the link decodes into builtins."""
        content = encode(payload) if payload is not None else None
        kwargs.setdefault("timeout", 120)
        return self.link.call(method, path, content=content, headers=dict(self.headers), **kwargs)

    def raw(self, method: str, path: str, payload: Any) -> bytes:
        """A call whose answer the caller decodes into its struct."""
        return self.link.call(method, path, content=encode(payload), headers=dict(self.headers), timeout=120, raw=True)

    def blob_headers(self) -> dict[str, str]:
        """The headers of a file transfer (its body is the file's bytes, as they are)."""
        return {k: v for k, v in self.headers.items() if k not in ("Content-Type", "Content-Encoding")}

    def report(self, error: str) -> None:
        """Tell the hub why a round failed (its sync page shows it); a hub out of reach hears it another time."""
        try:
            self.call("POST", "/api/v1/sync/report", {"error": error})
        except (HubUnreachable, HubRefused):
            pass
