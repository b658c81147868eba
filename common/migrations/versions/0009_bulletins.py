"""Reminders the office sends to target nodes that have not acknowledged a bulletin.

Revision ID: 0009
Revises: 0007
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bulletin_reminder',
    sa.Column('bulletin_id', sa.Uuid(), nullable=False),
    sa.Column('reminded_by', sa.Uuid(), nullable=True),
    sa.Column('at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('field_versions', sa.JSON(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['bulletin_id'], ['bulletin.id'], name=op.f('fk_bulletin_reminder_bulletin_id_bulletin')),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_bulletin_reminder_node_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulletin_reminder'))
    )
    with op.batch_alter_table('bulletin_reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulletin_reminder_node_id'), ['node_id'], unique=False)
        batch_op.create_index('ix_bulletin_reminder_bulletin_id_node_id', ['bulletin_id', 'node_id'], unique=False)
        batch_op.create_index('ix_bulletin_reminder_node_id_version', ['node_id', 'version', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('bulletin_reminder', schema=None) as batch_op:
        batch_op.drop_index('ix_bulletin_reminder_node_id_version')
        batch_op.drop_index('ix_bulletin_reminder_bulletin_id_node_id')
        batch_op.drop_index(batch_op.f('ix_bulletin_reminder_node_id'))
    op.drop_table('bulletin_reminder')
