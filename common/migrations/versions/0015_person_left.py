"""A person who has left their enterprise keeps their record, marked with the day they left.

Revision ID: 0015
Revises: 0014
"""
from __future__ import annotations

from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column: a plain ALTER TABLE on both databases, no table rebuilt on SQLite.
    op.execute("ALTER TABLE person ADD COLUMN left_on DATE")


def downgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('left_on')
