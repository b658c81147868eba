"""The hub's lineage: a random token naming its history, replaced when the hub is restored from a backup.

A spoke keeps the token it last saw and sends it with each sync request. A hub restored from an older backup has
lost what was written after that backup; its new token tells each spoke so, and the spoke heals it (sync/client/heal.py)
before anything else of its round: it sends again every row of its scope, and the hub keeps whatever it lacks.
"""
from __future__ import annotations

import secrets
import threading
import weakref
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from common.models import SyncState

# The hub's row in sync_state (a spoke's keys there are its own; the hub uses this one alone).
KEY = "hub_lineage"
_TABLE = SyncState.__table__
# Per engine (a database of its own): read once, for the life of the process's engine.
_CACHE: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _read(session: Session) -> dict[str, Any] | None:
    value = session.execute(select(_TABLE.c.value).where(_TABLE.c.key == KEY)).scalar()
    if isinstance(value, (str, bytes)):
        import json

        value = json.loads(value)
    return dict(value) if value else None


def stored(session: Session) -> dict[str, Any]:
    """The lineage as stored: {"token": ..., "previous": [older tokens], "healed": {token: [nodes]}}; made the
    first time it is asked for."""
    value = _read(session)
    if value is None or not value.get("token"):
        value = {"token": secrets.token_hex(8), "previous": [], "healed": []}
        session.execute(insert(_TABLE), {"key": KEY, "value": value})
        session.flush()
    return value


def current(db: Any) -> str:
    """This hub's token, read once per process (a restore is made with the hub stopped)."""
    key = db.engine
    token = _CACHE.get(key)
    if token is not None:
        return token
    with _LOCK:
        if key not in _CACHE:
            try:
                with db.transaction() as session:
                    _CACHE[key] = str(stored(session)["token"])
            except Exception:  # noqa: BLE001 - two workers made it at once: the other's is the one
                with db.reads() as session:
                    value = _read(session)
                    if value is None:
                        raise
                    _CACHE[key] = str(value["token"])
        return _CACHE[key]


def renew(session: Session, also_previous: list[str] | None = None) -> tuple[str, str | None]:
    """A new token for a restored hub's history; the old one kept (with `also_previous`: those of the database the
    restore replaced), so spokes that knew any of them may heal it. Returns the new token and the one it replaces."""
    value = _read(session)
    token = secrets.token_hex(8)
    old = value.get("token") if value else None
    previous = [*(value or {}).get("previous", []), *([old] if old else []), *(also_previous or [])]
    previous = list(dict.fromkeys(p for p in previous if p and p != token))[-50:]
    fresh = {"token": token, "previous": previous, "healed": []}
    if value is None:
        session.execute(insert(_TABLE), {"key": KEY, "value": fresh})
    else:
        session.execute(update(_TABLE).where(_TABLE.c.key == KEY).values(value=fresh))
    forget_cache()
    return token, old


def may_heal(session: Session, node_id: str, from_token: str) -> bool:
    """Whether a spoke may send its rows again: it knew an earlier history of this hub, and has not finished healing
    this one yet."""
    value = stored(session)
    return from_token in value.get("previous", []) and node_id not in value.get("healed", [])


def add_progress(session: Session, node_id: str, sent: int, answer: Any) -> dict[str, int]:
    """Add one heal batch to the spoke's running totals; the totals so far."""
    value = stored(session)
    progress = dict(value.get("progress", {}))
    totals = dict(progress.get(node_id, {"sent": 0, "added": 0, "updated": 0, "kept": 0, "refused": 0}))
    totals["sent"] += sent
    for name in ("added", "updated", "kept", "refused"):
        totals[name] += int(getattr(answer, name))
    progress[node_id] = totals
    value["progress"] = progress
    session.execute(update(_TABLE).where(_TABLE.c.key == KEY).values(value=value))
    return totals


def healed(session: Session, node_id: str) -> None:
    """The spoke has sent every row of its scope: no more heal from it for this history."""
    value = stored(session)
    value["healed"] = sorted({*value.get("healed", []), node_id})
    session.execute(update(_TABLE).where(_TABLE.c.key == KEY).values(value=value))


def forget_cache() -> None:
    _CACHE.clear()
