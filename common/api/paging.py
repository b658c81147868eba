"""Bounded paging for every list: `limit` and `offset`, one row more fetched to tell if there is a next page."""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Select
from sqlalchemy.orm import Session

MAX_LIMIT = 200
# Far past any table here, and far inside the 64-bit integer the databases bind an OFFSET as (PostgreSQL refuses
# more, SQLite cannot even bind it): a larger offset is refused (400) where the query parameter is read.
MAX_OFFSET = 1_000_000_000


def clamp(limit: int | None, offset: int | None) -> tuple[int, int]:
    return max(1, min(limit or 50, MAX_LIMIT)), max(0, min(offset or 0, MAX_OFFSET))


def page(session: Session, stmt: Select[Any], limit: int | None, offset: int | None,
         out: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    limit, offset = clamp(limit, offset)
    rows = session.scalars(stmt.limit(limit + 1).offset(offset)).all()
    more = len(rows) > limit
    return {
        "items": [out(row) for row in rows[:limit]],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }
