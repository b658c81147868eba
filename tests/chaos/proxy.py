"""A TCP proxy between a spoke and the hub that drops, resets, stalls and slows connections on command.

All proxies of a campaign run on one asyncio loop in a background thread (`ProxyLoop`); each `FaultProxy` listens
on its own loopback port and forwards to the hub. `set_mode` switches it, from any thread:

* ``pass``  — bytes flow both ways;
* ``drop``  — open connections are closed and new ones closed as soon as they are accepted;
* ``reset`` — open and new connections are aborted with a TCP reset (SO_LINGER 0);
* ``stall`` — connections stay open but nothing is forwarded until the mode changes;
* ``slow``  — bytes flow in small pieces with a pause between them.
"""
from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections import Counter
from typing import Any

MODES = ("pass", "drop", "reset", "stall", "slow")
SLOW_PIECE = 512
SLOW_PAUSE = 0.05


class ProxyLoop:
    """One event loop in a daemon thread, shared by every proxy of a campaign."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="chaos-proxy-loop", daemon=True)
        self.thread.start()

    def call(self, coroutine: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


class FaultProxy:
    def __init__(self, loop: ProxyLoop, target_port: int, name: str = "") -> None:
        self.loop = loop
        self.name = name
        self.target = ("127.0.0.1", target_port)
        self.mode = "pass"
        self.counts: Counter[str] = Counter()  # connections accepted, and what each mode did to them
        self._flowing: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.base_events.Server | None = None
        self.port = loop.call(self._start())
        self.url = f"http://127.0.0.1:{self.port}"

    async def _start(self) -> int:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown proxy mode {mode!r} (one of {', '.join(MODES)})")
        self.loop.call(self._set_mode(mode))

    async def _set_mode(self, mode: str) -> None:
        assert self._flowing is not None
        self.mode = mode
        if mode == "stall":
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode in ("drop", "reset"):
            for writer in list(self._writers):
                self.counts[f"{mode}:open"] += 1
                _close(writer, reset=mode == "reset")

    def close(self) -> None:
        self.loop.call(self._close_all())

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            _close(writer, reset=True)

    # --- the plumbing ---------------------------------------------------------------------------------------------

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.counts["accepted"] += 1
        if self.mode in ("drop", "reset"):
            self.counts[f"{self.mode}:new"] += 1
            _close(client_writer, reset=self.mode == "reset")
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self.counts["upstream-refused"] += 1
            _close(client_writer, reset=True)
            return
        self._writers.update((client_writer, upstream_writer))
        try:
            await asyncio.gather(self._pump(client_reader, upstream_writer), self._pump(upstream_reader, client_writer),
                                 return_exceptions=True)
        finally:
            for writer in (client_writer, upstream_writer):
                self._writers.discard(writer)
                _close(writer, reset=False)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()
                if writer.is_closing():
                    break
                if self.mode == "slow":
                    for start in range(0, len(data), SLOW_PIECE):
                        writer.write(data[start:start + SLOW_PIECE])
                        await writer.drain()
                        await asyncio.sleep(SLOW_PAUSE)
                else:
                    writer.write(data)
                    await writer.drain()
            if writer.can_write_eof() and not writer.is_closing():
                writer.write_eof()
        except (OSError, ConnectionError):
            pass
        finally:
            if reader.at_eof() is False:
                _close(writer, reset=False)


def _close(writer: asyncio.StreamWriter, reset: bool) -> None:
    if writer.is_closing():
        return
    if reset:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        writer.transport.abort()
    else:
        writer.close()
