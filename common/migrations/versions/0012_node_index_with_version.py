"""A synced table's node is indexed once, with the version (the pulls' index), not also alone: one index fewer to
write on every insert and update of a synced row, at the hub and at the spokes.

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# Every synced table with an index on (node_id, version, id); user_account has none and keeps its own.
_TABLES = ("enterprise", "person", "case_record", "case_event", "visit", "bulletin", "bulletin_ack",
           "bulletin_reminder", "info_report", "attachment", "node_application", "audit_entry")


def upgrade() -> None:
    for table in _TABLES:
        op.drop_index(f"ix_{table}_node_id", table_name=table)


def downgrade() -> None:
    for table in _TABLES:
        op.create_index(f"ix_{table}_node_id", table, ["node_id"], unique=False)
