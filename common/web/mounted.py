"""Which routes this node answers: the office's own work is mounted by the hub alone, and a page offers an action
only where it can be done."""
from __future__ import annotations

from litestar import Litestar


def serves(app: Litestar, name: str) -> bool:
    """Whether this node has the route handler called `name`."""
    return app.get_handler_index_by_name(name) is not None
