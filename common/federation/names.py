"""The names pages show nodes by: people know a sub-center or a workstation by its name, never by its id."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.models import Node


def node_names(session: Session) -> dict[str, str]:
    """Node id → name of every node this database knows (a spoke: its slice of the tree), in tree order; read once
    per page, as a page may name many nodes."""
    return dict(session.execute(select(Node.id, Node.name).order_by(Node.path)).all())
