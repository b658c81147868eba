"""Real receivers for the hub's outbox in tests and benchmarks: a WeCom group robot (a small HTTP server that answers
as the robot does, or 500 while it is told to be down) and a mailbox (aiosmtpd), both on loopback."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from contextlib import contextmanager

from tests.live_hub import free_port


class Robot:
    """Records each message posted to it: (path with its key, the JSON body, when it came)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any], float]] = []
        self.down = False
        self.errcode = 0
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        robot = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart (delayed ACK)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if robot.down:
                    self._answer(500, b"down")
                    return
                with robot.arrived:
                    robot.received.append((self.path, json.loads(body), time.time()))
                    robot.arrived.notify_all()
                self._answer(200, json.dumps({"errcode": robot.errcode, "errmsg": "ok" if robot.errcode == 0 else "bad"})
                             .encode())

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, key: str = "abcdef123456") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webhook/send?key={key}"

    def contents(self) -> list[str]:
        with self.lock:
            return [body["markdown"]["content"] for _, body, _ in self.received]

    def count(self, marker: str) -> int:
        return sum(marker in content for content in self.contents())

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.arrived.wait(left)
        return True

    def __enter__(self) -> "Robot":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Collect:
    def __init__(self, box: "Mailbox") -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.box.lock:
            self.box.messages.append((list(envelope.rcpt_tos), message, time.time()))
        return "250 OK"


class Mailbox:
    """A local SMTP server recording each message; with `login`, it asks for that user and password."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[list[str], EmailMessage, float]] = []  # recipients, message, when it came
        self.lock = threading.Lock()
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if login is not None:
            def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
                from aiosmtpd.smtp import AuthResult

                ok = (data.login.decode(), data.password.decode()) == login
                return AuthResult(success=ok)
            kwargs = {"authenticator": check, "auth_require_tls": False}
        self.controller = Controller(_Collect(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def url(self, user: str = "", password: str = "") -> str:
        from urllib.parse import quote

        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
        return f"smtp://{auth}127.0.0.1:{self.port}"

    def events(self) -> Counter[str]:
        with self.lock:
            return Counter(str(m["X-Lianfu-Event"]) for _, m, _ in self.messages)

    def __enter__(self) -> "Mailbox":
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()


@contextmanager
def receivers() -> Iterator[tuple[Robot, Mailbox]]:
    with Robot() as robot, Mailbox() as mailbox:
        yield robot, mailbox


def eventually(check: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


# A job for the scheduler's tests: records which scheduler (by its settings' host) ran it, and when.
PROBE_RUNS: list[tuple[str, float]] = []


def probe(db: Any, settings: Any, now: Any) -> dict[str, Any]:
    PROBE_RUNS.append((settings.host, time.monotonic()))
    return {"ran": 1}
