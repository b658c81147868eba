"""Sync: per-field versions on every synced row, pull indexes by node and version, and the sync bookkeeping tables.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


_SYNCED_TABLES = ("attachment", "audit_entry", "bulletin", "bulletin_ack", "case_event", "case_record", "enterprise",
                  "info_report", "node_application", "person", "user_account", "visit")


def upgrade() -> None:
    op.create_table('sync_batch',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_batch'))
    )
    with op.batch_alter_table('sync_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_batch_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sync_batch_received_at'), ['received_at'], unique=False)

    op.create_table('sync_conflict',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('row_id', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('kept_value', sa.JSON(), nullable=True),
    sa.Column('kept_by', sa.JSON(), nullable=False),
    sa.Column('other_value', sa.JSON(), nullable=True),
    sa.Column('other_by', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resolution', sa.String(length=16), nullable=False),
    sa.Column('resolved_by', sa.Uuid(), nullable=True),
    sa.Column('resolved_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_conflict'))
    )
    with op.batch_alter_table('sync_conflict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_conflict_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sync_conflict_row_id'), ['row_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sync_conflict_status'), ['status'], unique=False)

    op.create_table('sync_move',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('row_id', sa.String(length=64), nullable=False),
    sa.Column('from_node', sa.String(length=64), nullable=False),
    sa.Column('to_node', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_sync_move'))
    )
    with op.batch_alter_table('sync_move', schema=None) as batch_op:
        batch_op.create_index('ix_sync_move_from_node_version', ['from_node', 'version'], unique=False)

    op.create_table('sync_outbox',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('row_id', sa.String(length=64), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=True),
    sa.Column('prior', sa.JSON(), nullable=True),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_sync_outbox')),
    sqlite_autoincrement=True,
    )
    op.create_table('sync_peer',
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('last_seen_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('last_success_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_error_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('pushed_total', sa.BigInteger(), nullable=False),
    sa.Column('pulled_total', sa.BigInteger(), nullable=False),
    sa.Column('rejected_total', sa.BigInteger(), nullable=False),
    sa.Column('queued', sa.BigInteger(), nullable=False),
    sa.Column('lag_seconds', sa.Float(), nullable=False),
    sa.Column('cursor', sa.BigInteger(), nullable=False),
    sa.Column('protocol', sa.Integer(), nullable=False),
    sa.Column('schema', sa.String(length=32), nullable=False),
    sa.Column('digest_ok', sa.Boolean(), nullable=True),
    sa.PrimaryKeyConstraint('node_id', name=op.f('pk_sync_peer'))
    )
    op.create_table('sync_state',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sync_state'))
    )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))
        batch_op.create_index('ix_attachment_node_id_version', ['node_id', 'version', 'id'], unique=False)

    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))
        batch_op.create_index('ix_audit_entry_node_id_version', ['node_id', 'version', 'id'], unique=False)

    with op.batch_alter_table('bulletin', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))
        batch_op.create_index('ix_bulletin_node_id_version', ['node_id', 'version', 'id'], unique=False)

    with op.batch_alter_table('bulletin_ack', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))
        batch_op.create_index('ix_bulletin_ack_node_id_version', ['node_id', 'version', 'id'], unique=False)

    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))
        batch_op.create_index('ix_case_event_node_id_version', ['node_id', 'version', 'id'], unique=False)

    with op.batch_alter_table('case_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))
        batch_op.create_index('ix_case_record_node_id_version', ['node_id', 'version', 'id'], unique=False)

    with op.batch_alter_table('enterprise', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))
        batch_op.create_index('ix_enterprise_node_id_version', ['node_id', 'version', 'id'], unique=False)

    with op.batch_alter_table('info_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))
        batch_op.create_index('ix_info_report_node_id_version', ['node_id', 'version', 'id'], unique=False)

    with op.batch_alter_table('node_application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))
        batch_op.create_index('ix_node_application_node_id_version', ['node_id', 'version', 'id'], unique=False)

    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))
        batch_op.create_index('ix_person_node_id_version', ['node_id', 'version', 'id'], unique=False)

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))

    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_versions', sa.JSON(), nullable=True))
        batch_op.create_index('ix_visit_node_id_version', ['node_id', 'version', 'id'], unique=False)



def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN: a batch rebuild of `enterprise` would break the search view built on it.
    for table in _SYNCED_TABLES:
        if table != "user_account":
            op.drop_index(f"ix_{table}_node_id_version", table_name=table)
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN field_versions')

    op.drop_table('sync_state')
    op.drop_table('sync_peer')
    op.drop_table('sync_outbox')
    with op.batch_alter_table('sync_move', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_move_from_node_version')

    op.drop_table('sync_move')
    with op.batch_alter_table('sync_conflict', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_conflict_status'))
        batch_op.drop_index(batch_op.f('ix_sync_conflict_row_id'))
        batch_op.drop_index(batch_op.f('ix_sync_conflict_node_id'))

    op.drop_table('sync_conflict')
    with op.batch_alter_table('sync_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_batch_received_at'))
        batch_op.drop_index(batch_op.f('ix_sync_batch_node_id'))

    op.drop_table('sync_batch')
