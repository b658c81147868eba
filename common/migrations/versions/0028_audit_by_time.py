"""The audit trail by time: the viewer lists it newest first a page at a time (`at`, `id` descending, its cursor
the last row's pair), which without an index sorts the whole trail on every page.

Revision ID: 0028
Revises: 0027
"""
from __future__ import annotations

from alembic import op


revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_audit_entry_at_id', 'audit_entry', ['at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_entry_at_id', table_name='audit_entry')
