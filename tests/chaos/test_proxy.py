"""The campaign's fault proxy, against a real echo server: it passes bytes, drops, resets, stalls and slows."""
from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.chaos.proxy import FaultProxy, ProxyLoop


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    loop = ProxyLoop()
    fault_proxy = FaultProxy(loop, server.server_address[1], "echo")
    try:
        yield fault_proxy
    finally:
        fault_proxy.close()
        loop.close()
        server.shutdown()
        server.server_close()


def _connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=10)


def _receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_bytes_pass_through_and_slowly_in_slow_mode(proxy: FaultProxy) -> None:
    with _connect(proxy) as sock:
        sock.sendall("警企联服".encode())
        assert _receive(sock, 12).decode() == "警企联服"
    proxy.set_mode("slow")
    payload = bytes(range(256)) * 8
    with _connect(proxy) as sock:
        sock.sendall(payload)
        assert _receive(sock, len(payload)) == payload
    assert proxy.counts["accepted"] == 2


def test_drop_closes_open_and_new_connections(proxy: FaultProxy) -> None:
    open_one = _connect(proxy)
    open_one.sendall(b"ping")
    assert _receive(open_one, 4) == b"ping"
    proxy.set_mode("drop")
    assert open_one.recv(10) == b""  # the open connection ended
    with _connect(proxy) as sock:
        assert sock.recv(10) == b""  # a new one is closed at once
    open_one.close()
    assert proxy.counts["drop:open"] >= 1 and proxy.counts["drop:new"] == 1


def test_reset_aborts_connections(proxy: FaultProxy) -> None:
    proxy.set_mode("reset")
    # The reset may come as soon as the connection is accepted, before anything is sent (a busy machine).
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        with _connect(proxy) as sock:
            sock.sendall(b"x")
            sock.recv(10)
    assert proxy.counts["reset:new"] == 1


def test_stall_holds_bytes_until_the_mode_changes(proxy: FaultProxy) -> None:
    with _connect(proxy) as sock:
        proxy.set_mode("stall")
        sock.sendall(b"held")
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(10)  # nothing comes back while stalled
        proxy.set_mode("pass")
        sock.settimeout(10)
        assert _receive(sock, 4) == b"held"


def test_an_unknown_mode_is_refused(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown proxy mode"):
        proxy.set_mode("explode")
    assert proxy.mode == "pass"
