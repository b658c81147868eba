"""A pushed row's parts as the checks and the merge read them: its field versions, and its refusal."""
from __future__ import annotations

from typing import Any

import msgspec


class RowRefused(Exception):
    """A pushed row the hub will not apply; `reason` goes back to the spoke and into the audit trail, with the name
    of the write rule it broke where one did (common/rules.py)."""

    def __init__(self, reason: str, rule: str = "") -> None:
        super().__init__(reason)
        self.rule = rule



def field_version(value: Any) -> tuple[int, str] | None:
    """A field's version as sent ([hlc, node]), or None when it is not one."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], int):
        return (value[0], str(value[1]))
    return None


def clean_versions(fv: dict[str, Any]) -> dict[str, Any]:
    return {name: list(v) for name, value in (fv or {}).items() if (v := field_version(value)) is not None}


def jsonable(value: Any) -> Any:
    return msgspec.to_builtins(value)
