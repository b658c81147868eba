"""Hybrid logical clock: versions that order changes across nodes without coordination."""
from __future__ import annotations

import threading
import time

_COUNTER_BITS = 16
_COUNTER_MASK = (1 << _COUNTER_BITS) - 1


class HybridClock:
    """Physical milliseconds in the high bits, a counter in the low 16 bits; monotonic per process."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            physical = int(time.time() * 1000) << _COUNTER_BITS
            self._last = physical if physical > self._last else self._last + 1
            return self._last

    def observe(self, remote: int) -> int:
        """Move past a version seen from another node, so our next write orders after it."""
        with self._lock:
            physical = int(time.time() * 1000) << _COUNTER_BITS
            self._last = max(self._last + 1, remote + 1, physical)
            return self._last


def physical_ms(version: int) -> int:
    return version >> _COUNTER_BITS


clock = HybridClock()
