"""Attachment files in the hub's database: `hub_blob` (one verified file) and `hub_blob_chunk` (its pieces).

A hub of several hosts on one PostgreSQL keeps the bytes of attachments, and the uploads under way, where every
host finds them and where one backup of the database holds them (LIANFU_BLOB_STORE=database, the default of a
PostgreSQL hub). Hub-local tables, never synced: plain create_table on both databases.

Revision ID: 0031
Revises: 0030
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'hub_blob',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('stored_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sha256', name=op.f('pk_hub_blob')),
    )
    op.create_table(
        'hub_blob_chunk',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('position', sa.BigInteger(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('sha256', 'position', name=op.f('pk_hub_blob_chunk')),
    )


def downgrade() -> None:
    op.drop_table('hub_blob_chunk')
    op.drop_table('hub_blob')
