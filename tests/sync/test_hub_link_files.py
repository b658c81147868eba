"""The spoke's copies of what the hub publishes are written atomically, also by two of its threads at once (a login
and the scheduled round both refresh the hub's metadata)."""
from __future__ import annotations

import threading
from pathlib import Path

from sync.hub_link import write_private


def test_two_threads_refreshing_one_file_neither_fails_nor_leaves_half(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "openid-configuration.json"
    errors: list[BaseException] = []

    def refresh(text: str) -> None:
        for _ in range(150):
            try:
                write_private(target, text)
            except OSError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=refresh, args=(letter * 4000,)) for letter in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_text(encoding="utf-8") in ("a" * 4000, "b" * 4000)
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left behind
