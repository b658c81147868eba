"""The WAL checkpointer: a round's writes folded from SQLite's WAL into the database file in the background."""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from common.db import Database

# One checkpoint at a time in this process, by one thread kept for it (a new thread per round costs the round a
# quarter of a millisecond).
_CHECKPOINTING = threading.Lock()
_CHECKPOINTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lianfu-checkpoint")


class Background:
    """Work handed to a background thread, to wait for like a thread's: `join(timeout)`."""

    def __init__(self, future: Future[Any]) -> None:
        self.future = future

    def join(self, timeout: float | None = None) -> None:
        wait([self.future], timeout)

    def is_alive(self) -> bool:
        return not self.future.done()


def checkpoint_later(db: Database) -> Background | None:
    """Fold the WAL once the round is over (a commit would otherwise do it in the middle of the next round that
    crosses the WAL's threshold). None when one under way folds these writes too."""
    if not _CHECKPOINTING.acquire(blocking=False):
        return None

    def run() -> None:
        try:
            db.checkpoint()
        except Exception:  # noqa: BLE001 - housekeeping: the next round's checkpoint, or a commit's, does it
            pass
        finally:
            _CHECKPOINTING.release()

    return Background(_CHECKPOINTER.submit(run))
