"""Tasks given to a unit, a node or a person, with their feedback: the routine cycle's and the leaders'.

Revision ID: 0022
Revises: 0021
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task',
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('owner_unit', sa.String(length=64), nullable=True),
    sa.Column('owner_node', sa.String(length=64), nullable=True),
    sa.Column('owner_user', sa.Uuid(), nullable=True),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('feedback', sa.Text(), nullable=False),
    sa.Column('feedback_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('meeting_id', sa.Uuid(), nullable=True),
    sa.Column('report_id', sa.Uuid(), nullable=True),
    sa.Column('period', sa.String(length=16), nullable=True),
    sa.Column('cycle_key', sa.String(length=120), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('field_versions', sa.JSON(), nullable=True),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('pushed_by', sa.String(length=64), nullable=True),
    sa.Column('pushed_version', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_task_node_id_node')),
    sa.ForeignKeyConstraint(['owner_node'], ['node.id'], name=op.f('fk_task_owner_node_node')),
    sa.ForeignKeyConstraint(['owner_unit'], ['unit.id'], name=op.f('fk_task_owner_unit_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task')),
    sa.UniqueConstraint('cycle_key', name='uq_task_cycle_key')
    )
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index('ix_task_node_id_version', ['node_id', 'version', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_owner_unit'), ['owner_unit'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_owner_user'), ['owner_user'], unique=False)
        batch_op.create_index('ix_task_status_due', ['status', 'due'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index('ix_task_status_due')
        batch_op.drop_index(batch_op.f('ix_task_owner_user'))
        batch_op.drop_index(batch_op.f('ix_task_owner_unit'))
        batch_op.drop_index('ix_task_node_id_version')
        batch_op.drop_index(batch_op.f('ix_task_meeting_id'))

    op.drop_table('task')
