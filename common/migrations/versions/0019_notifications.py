"""Reaching people: each person's inbox (synced to their node), the outbox of robot and mail messages, the hub's
jobs, and a WeCom group robot per unit and per node.

Revision ID: 0019
Revises: 0018
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('event_key', sa.String(length=160), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=500), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sent_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery')),
    sa.UniqueConstraint('event_key', 'channel', 'target', name='uq_delivery_event_key_channel_target')
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)

    op.create_table('job_run',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('last_started_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('last_finished_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_result', sa.JSON(), nullable=True),
    sa.Column('next_run_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_run'))
    )
    op.create_table('notification',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('event_key', sa.String(length=160), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=300), nullable=False),
    sa.Column('entity_type', sa.String(length=32), nullable=True),
    sa.Column('entity_id', sa.Uuid(), nullable=True),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('read_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('field_versions', sa.JSON(), nullable=True),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('pushed_by', sa.String(length=64), nullable=True),
    sa.Column('pushed_version', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_notification_node_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('event_key', 'user_id', name='uq_notification_event_key_user_id')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_node_id_version', ['node_id', 'version', 'id'], unique=False)
        batch_op.create_index('ix_notification_user_id_id', ['user_id', 'id'], unique=False)

    with op.batch_alter_table('node', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_url', sa.String(length=500), nullable=True))

    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_url', sa.String(length=500), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.drop_column('webhook_url')

    with op.batch_alter_table('node', schema=None) as batch_op:
        batch_op.drop_column('webhook_url')

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_user_id_id')
        batch_op.drop_index('ix_notification_node_id_version')

    op.drop_table('notification')
    op.drop_table('job_run')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_status_next_attempt_at')

    op.drop_table('delivery')
