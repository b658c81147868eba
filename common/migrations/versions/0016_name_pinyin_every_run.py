"""Every enterprise's `name_pinyin` worked out again from its name, in batches.

Rows written before the value took its present form (punctuation dropped, long names fitted to the column), or
renamed without it (the demo's workstation host), are found by the pinyin of any run of their name's characters.
The value is derived from the name alike on every node, so each node's migration writes the same value and the
row's version is left alone: nothing travels by sync for it. The indexes follow through their triggers (FTS5 on
SQLite, `enterprise_search` on PostgreSQL).

Revision ID: 0016
Revises: 0015
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from common.roster.service import name_pinyin

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

BATCH = 1000
ENTERPRISE = sa.table("enterprise", sa.column("id", sa.Uuid()), sa.column("name", sa.String()),
                      sa.column("name_pinyin", sa.String()))


def recompute_name_pinyin(bind: sa.engine.Connection, batch: int = BATCH) -> int:
    """Rewrite the rows whose stored value differs from their name's; returns how many were rewritten."""
    rewritten = 0
    last = None
    while True:
        stmt = sa.select(ENTERPRISE.c.id, ENTERPRISE.c.name, ENTERPRISE.c.name_pinyin).order_by(ENTERPRISE.c.id).limit(batch)
        if last is not None:
            stmt = stmt.where(ENTERPRISE.c.id > last)
        rows = bind.execute(stmt).all()
        if not rows:
            return rewritten
        stale = [{"row_id": r.id, "value": value} for r in rows if (value := name_pinyin(r.name or "")) != r.name_pinyin]
        if stale:
            bind.execute(ENTERPRISE.update().where(ENTERPRISE.c.id == sa.bindparam("row_id"))
                         .values(name_pinyin=sa.bindparam("value")), stale)
            rewritten += len(stale)
        last = rows[-1].id


def upgrade() -> None:
    recompute_name_pinyin(op.get_bind())


def downgrade() -> None:
    # The earlier form is a subset of this one's searches: nothing to undo.
    pass
