"""Around every HTTP request: its request id (echoed in X-Request-ID, carried by every log line written for it), one
access log line, and its count and duration in the metrics by route template."""
from __future__ import annotations

import logging
import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from common.ops import metrics
from common.ops.logs import REQUEST_ID, request_id_from

access_log = logging.getLogger("lianfu.access")

HEADER = b"x-request-id"
# Asked every few seconds by load balancers and Prometheus: their access lines are written at DEBUG only.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestObserver:
    """Outermost ASGI layer of a node's app: it sees every request, a route's or not, and its final status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((value for name, value in scope.get("headers", []) if name == HEADER), None)
        request_id = request_id_from(incoming.decode("latin-1") if incoming is not None else None)
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status: list[int] = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                headers.append((HEADER, request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = str(scope.get("path_template") or metrics.NO_ROUTE) if scope.get("route_handler") else metrics.NO_ROUTE
            method = str(scope.get("method", ""))
            metrics.observe_request(method, route, status[0], seconds)
            level = logging.DEBUG if route in QUIET_ROUTES and status[0] < 500 else logging.INFO
            if access_log.isEnabledFor(level):
                # The route template, never the path as sent: no ids, no query strings (tokens), no bodies.
                access_log.log(level, "%s %s %d %.1f ms", method, route, status[0], seconds * 1000,
                               extra={"method": method, "route": route, "status": status[0],
                                      "duration_ms": round(seconds * 1000, 1)})
            REQUEST_ID.reset(token)


def observe(app: Any) -> None:
    """Put the observer around a built Litestar app's request handling (inside its own send hooks)."""
    app.asgi_handler = RequestObserver(app.asgi_handler)
