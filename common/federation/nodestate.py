"""Whether a node's people may work: their node and every node above it must be active.

A suspended sub-center stops the workstations below it too: the office withdraws a branch, not one desk of it.
The check reads this database's own node table, so a spoke decides from the statuses its directory brought.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session, aliased

from common import i18n
from common.i18n import N_
from common.models import Node

REFUSALS = {
    "suspended": N_("Your node has been suspended. Please contact the center's office."),
    "retired": N_("Your node has been closed. Please contact the center's office."),
}


def _lineage_halts() -> tuple[Any, Any, Any]:
    own, above = aliased(Node), aliased(Node)
    # `above` is the node itself or one of its ancestors: the materialised path of one is a prefix of the other's.
    return own, above, select(above.status).select_from(own).join(above, own.path.startswith(above.path))


def halted(node_id: Any) -> ColumnElement[bool]:
    """True where the node (a column or a value) or a node above it is not active; for a query's WHERE or SELECT."""
    own, above, stmt = _lineage_halts()
    return exists(stmt.where(own.id == node_id, above.status != "active"))


def halt_of(session: Session, node_id: str | None) -> str | None:
    """`retired` or `suspended` when the node or one above it is so, else None (also for a node not known here)."""
    if not node_id:
        return None
    own, above, stmt = _lineage_halts()
    found = set(session.scalars(stmt.where(own.id == node_id, above.status != "active")))
    if not found:
        return None
    return "retired" if "retired" in found else "suspended"


def refusal(status: str) -> str:
    return i18n.gettext(REFUSALS.get(status, REFUSALS["suspended"]))
