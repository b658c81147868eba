"""The hub's serving hosts: `hub_host` (hostname:port, pid, workers, version, started, last seen), for `lianfu hub
status`; written by each serving hub while it runs, never synced.

Revision ID: 0030
Revises: 0029
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hub_host',
    sa.Column('id', sa.String(length=300), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('workers', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('started_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('last_seen_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_host'))
    )
    op.create_index(op.f('ix_hub_host_last_seen_at'), 'hub_host', ['last_seen_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_hub_host_last_seen_at'), table_name='hub_host')
    op.drop_table('hub_host')
