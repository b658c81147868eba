"""Lists the office keeps as data. Each key is registered with its default and a check of a new value; a key
without a stored row answers its default. Only the office at the hub changes them; spokes receive them with the
directory on their next sync, and never change them themselves."""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import Forbidden, InvalidField
from common.models import Setting, utcnow
from common.policy import Principal
from common.service import audit_write


@dataclass(frozen=True)
class Known:
    key: str
    default: Any
    check: Callable[[Any], Any]  # returns the value to keep, or raises InvalidField
    label: str = ""


KNOWN: dict[str, Known] = {}


def register(key: str, default: Any, check: Callable[[Any], Any] | None = None, label: str = "") -> Known:
    """Declare a setting (at import of the module that uses it); the default is what a fresh node answers."""
    known = Known(key, default, check or (lambda value: value), label)
    KNOWN[key] = known
    return known


def get(session: Session, key: str) -> Any:
    if key not in KNOWN:
        raise KeyError(f"unknown setting {key!r}")
    row = session.get(Setting, key)
    return copy.deepcopy(row.value if row is not None else KNOWN[key].default)


def put(session: Session, p: Principal, key: str, value: Any) -> Any:
    """The office sets a list (at the hub); audited with the old and new values."""
    if not p.is_office:
        raise Forbidden("Only the office may change this.")
    if key not in KNOWN:
        raise InvalidField("key", "Unknown setting.")
    value = KNOWN[key].check(value)
    row = session.get(Setting, key)
    old = row.value if row is not None else KNOWN[key].default
    if row is None:
        session.add(Setting(key=key, value=value, updated_by=p.user_id))
    else:
        row.value, row.updated_at, row.updated_by = value, utcnow(), p.user_id
    session.flush()
    audit_write(session, p, "update", "setting", key, {"changed": {"value": [old, value]}})
    return value


def stored(session: Session) -> dict[str, Any]:
    """Every stored value, for the directory a spoke receives."""
    return {row.key: row.value for row in session.scalars(select(Setting))}


def replace_all(session: Session, values: dict[str, Any]) -> int:
    """At a spoke: take the hub's stored values as they are (a key gone there is gone here). Returns the changes."""
    changed = 0
    for row in session.scalars(select(Setting)):
        if row.key not in values:
            session.delete(row)
            changed += 1
    for key, value in values.items():
        row = session.get(Setting, key)
        if row is None:
            session.add(Setting(key=key, value=value))
            changed += 1
        elif row.value != value:
            row.value, row.updated_at = value, utcnow()
            changed += 1
    return changed
