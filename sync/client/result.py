"""What a round reports: its progress as it goes, and its result."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# A round's progress as it goes: (phase, rows done, rows in all when known).
Progress = Callable[[str, int, int | None], None]


@dataclass
class RoundResult:
    pushed: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    conflicts: int = 0
    pulled: int = 0
    dropped: int = 0
    repaired: list[str] = field(default_factory=list)
    files_sent: int = 0
    # After the hub was restored from a backup: rows of the scope sent again, and how many of them the hub took.
    healed: int = 0
    heal_taken: int = 0
    open_conflicts: int = 0
    queued: int = 0
    lag_seconds: float = 0.0
    seconds: float = 0.0
    ok: bool = False
    error: str | None = None
    busy: bool = False  # another round of this spoke was under way: this one did not run (and did not fail)
