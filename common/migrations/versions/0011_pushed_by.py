"""Which spoke's push made a row's current version: that spoke's pulls skip the row (its push's answer already gave
it the version), so a spoke does not pull back what it has just sent.

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# The tables of entities that are both pushed by spokes and pulled by them (sync/entities.py).
_TABLES = ("enterprise", "person", "node_application", "case_record", "case_event", "visit", "info_report",
           "attachment")


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (on SQLite a rebuilt table would break the roster's search view).
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN pushed_by VARCHAR(64)")
        op.execute(f"ALTER TABLE {table} ADD COLUMN pushed_version BIGINT")


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN pushed_version")
        op.execute(f"ALTER TABLE {table} DROP COLUMN pushed_by")
