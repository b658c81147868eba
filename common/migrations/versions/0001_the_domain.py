"""The domain: nodes, units, people, the roster, cases, visits, bulletins, audit and sessions.

Revision ID: 0001
Revises: 
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_head',
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('node_id', name=op.f('pk_audit_head'))
    )
    op.create_table('case_sequence',
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('node_id', 'year', name=op.f('pk_case_sequence'))
    )
    op.create_table('node',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('parent_id', sa.String(length=64), nullable=True),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('head_user_id', sa.Uuid(), nullable=True),
    sa.Column('host_enterprise_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['node.id'], name=op.f('fk_node_parent_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_node'))
    )
    with op.batch_alter_table('node', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_node_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_node_path'), ['path'], unique=False)

    op.create_table('unit',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit'))
    )
    op.create_table('attachment',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_attachment_node_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachment'))
    )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.create_index('ix_attachment_entity', ['entity_type', 'entity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attachment_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attachment_sha256'), ['sha256'], unique=False)

    op.create_table('audit_entry',
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('entity_type', sa.String(length=40), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_audit_entry_node_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry')),
    sa.UniqueConstraint('node_id', 'seq', name=op.f('uq_audit_entry_node_id'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_node_id'), ['node_id'], unique=False)

    op.create_table('bulletin',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('targets', sa.JSON(), nullable=False),
    sa.Column('for_all', sa.Boolean(), nullable=False),
    sa.Column('published_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('author_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_bulletin_node_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulletin'))
    )
    with op.batch_alter_table('bulletin', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulletin_node_id'), ['node_id'], unique=False)

    op.create_table('enrollment_code',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('expires_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('used_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_enrollment_code_node_id_node')),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_enrollment_code'))
    )
    with op.batch_alter_table('enrollment_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrollment_code_node_id'), ['node_id'], unique=False)

    op.create_table('enterprise',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_pinyin', sa.String(length=600), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('industry', sa.String(length=32), nullable=False),
    sa.Column('is_key', sa.Boolean(), nullable=False),
    sa.Column('parent_company', sa.String(length=200), nullable=False),
    sa.Column('risk_level', sa.String(length=16), nullable=False),
    sa.Column('contact_name', sa.String(length=100), nullable=False),
    sa.Column('contact_phone', sa.String(length=20), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_enterprise_node_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enterprise'))
    )
    with op.batch_alter_table('enterprise', schema=None) as batch_op:
        batch_op.create_index('ix_enterprise_industry_id', ['industry', 'id'], unique=False)
        batch_op.create_index('ix_enterprise_is_key_id', ['is_key', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_enterprise_node_id'), ['node_id'], unique=False)
        batch_op.create_index('ix_enterprise_node_id_id', ['node_id', 'id'], unique=False)
        batch_op.create_index('ix_enterprise_region_code_id', ['region_code', 'id'], unique=False)
        batch_op.create_index('ix_enterprise_risk_level_id', ['risk_level', 'id'], unique=False)
        batch_op.create_index('uq_enterprise_credit_code_live', ['credit_code'], unique=True, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.create_table('user_account',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=True),
    sa.Column('is_leader', sa.Boolean(), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_user_account_node_id_node')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_user_account_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('username', name=op.f('uq_user_account_username'))
    )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_account_node_id'), ['node_id'], unique=False)

    op.create_table('bulletin_ack',
    sa.Column('bulletin_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['bulletin_id'], ['bulletin.id'], name=op.f('fk_bulletin_ack_bulletin_id_bulletin')),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_bulletin_ack_node_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulletin_ack')),
    sa.UniqueConstraint('bulletin_id', 'node_id', name=op.f('uq_bulletin_ack_bulletin_id'))
    )
    with op.batch_alter_table('bulletin_ack', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulletin_ack_node_id'), ['node_id'], unique=False)

    op.create_table('bulletin_audience',
    sa.Column('bulletin_id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['bulletin_id'], ['bulletin.id'], name=op.f('fk_bulletin_audience_bulletin_id_bulletin')),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_bulletin_audience_node_id_node')),
    sa.PrimaryKeyConstraint('bulletin_id', 'node_id', name=op.f('pk_bulletin_audience'))
    )
    with op.batch_alter_table('bulletin_audience', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulletin_audience_node_id'), ['node_id'], unique=False)

    op.create_table('case_record',
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('enterprise_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('jurisdiction', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('emergency', sa.Boolean(), nullable=False),
    sa.Column('lead_unit', sa.String(length=64), nullable=True),
    sa.Column('reported_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_case_record_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_case_record_node_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_record')),
    sa.UniqueConstraint('number', name=op.f('uq_case_record_number'))
    )
    with op.batch_alter_table('case_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_record_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_record_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_record_node_id'), ['node_id'], unique=False)
        batch_op.create_index('ix_case_record_node_id_id', ['node_id', 'id'], unique=False)
        batch_op.create_index('ix_case_record_status_id', ['status', 'id'], unique=False)

    op.create_table('info_report',
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('risk_level', sa.String(length=16), nullable=False),
    sa.Column('source_unit', sa.String(length=64), nullable=True),
    sa.Column('enterprise_id', sa.Uuid(), nullable=True),
    sa.Column('reported_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_info_report_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_info_report_node_id_node')),
    sa.ForeignKeyConstraint(['source_unit'], ['unit.id'], name=op.f('fk_info_report_source_unit_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_info_report'))
    )
    with op.batch_alter_table('info_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_info_report_node_id'), ['node_id'], unique=False)

    op.create_table('node_application',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('parent_node', sa.String(length=64), nullable=False),
    sa.Column('host_enterprise_id', sa.Uuid(), nullable=True),
    sa.Column('head_name', sa.String(length=100), nullable=False),
    sa.Column('head_phone', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('background', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('submitted_by', sa.Uuid(), nullable=True),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.Column('decided_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('decision_comment', sa.Text(), nullable=False),
    sa.Column('created_node', sa.String(length=64), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['host_enterprise_id'], ['enterprise.id'], name=op.f('fk_node_application_host_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_node_application_node_id_node')),
    sa.ForeignKeyConstraint(['parent_node'], ['node.id'], name=op.f('fk_node_application_parent_node_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_node_application'))
    )
    with op.batch_alter_table('node_application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_node_application_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_node_application_status'), ['status'], unique=False)

    op.create_table('person',
    sa.Column('enterprise_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('position', sa.String(length=100), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_person_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_person_node_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person'))
    )
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_id_number'), ['id_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_node_id'), ['node_id'], unique=False)

    op.create_table('visit',
    sa.Column('enterprise_id', sa.Uuid(), nullable=False),
    sa.Column('visited_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('visitors', sa.String(length=200), nullable=False),
    sa.Column('checklist', sa.JSON(), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('hazards', sa.JSON(), nullable=False),
    sa.Column('guidance', sa.Text(), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('attendance', sa.Integer(), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('visitor_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_visit_enterprise_id_enterprise')),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_visit_node_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit'))
    )
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.create_index('ix_visit_enterprise_id_visited_at', ['enterprise_id', 'visited_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_visited_at'), ['visited_at'], unique=False)

    op.create_table('web_session',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('expires_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('last_seen_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=False),
    sa.Column('offline', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_web_session_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_session'))
    )
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_session_user_id'), ['user_id'], unique=False)

    op.create_table('case_event',
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('unit', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('actor_unit', sa.String(length=64), nullable=True),
    sa.Column('actor_leader', sa.Boolean(), nullable=False),
    sa.Column('at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case_record.id'], name=op.f('fk_case_event_case_id_case_record')),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_case_event_node_id_node')),
    sa.ForeignKeyConstraint(['unit'], ['unit.id'], name=op.f('fk_case_event_unit_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_event'))
    )
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_event_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_event_node_id'), ['node_id'], unique=False)

    op.create_table('case_unit',
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=False),
    sa.Column('lead', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('signed', sa.Boolean(), nullable=False),
    sa.Column('reported', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_record.id'], name=op.f('fk_case_unit_case_id_case_record')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_case_unit_unit_id_unit')),
    sa.PrimaryKeyConstraint('case_id', 'unit_id', name=op.f('pk_case_unit'))
    )
    with op.batch_alter_table('case_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_unit_unit_id'), ['unit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('case_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_unit_unit_id'))

    op.drop_table('case_unit')
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_event_node_id'))
        batch_op.drop_index(batch_op.f('ix_case_event_case_id'))

    op.drop_table('case_event')
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_session_user_id'))

    op.drop_table('web_session')
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_visited_at'))
        batch_op.drop_index(batch_op.f('ix_visit_node_id'))
        batch_op.drop_index('ix_visit_enterprise_id_visited_at')

    op.drop_table('visit')
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_node_id'))
        batch_op.drop_index(batch_op.f('ix_person_id_number'))
        batch_op.drop_index(batch_op.f('ix_person_enterprise_id'))

    op.drop_table('person')
    with op.batch_alter_table('node_application', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_node_application_status'))
        batch_op.drop_index(batch_op.f('ix_node_application_node_id'))

    op.drop_table('node_application')
    with op.batch_alter_table('info_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_info_report_node_id'))

    op.drop_table('info_report')
    with op.batch_alter_table('case_record', schema=None) as batch_op:
        batch_op.drop_index('ix_case_record_status_id')
        batch_op.drop_index('ix_case_record_node_id_id')
        batch_op.drop_index(batch_op.f('ix_case_record_node_id'))
        batch_op.drop_index(batch_op.f('ix_case_record_enterprise_id'))
        batch_op.drop_index(batch_op.f('ix_case_record_category'))

    op.drop_table('case_record')
    with op.batch_alter_table('bulletin_audience', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulletin_audience_node_id'))

    op.drop_table('bulletin_audience')
    with op.batch_alter_table('bulletin_ack', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulletin_ack_node_id'))

    op.drop_table('bulletin_ack')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_account_node_id'))

    op.drop_table('user_account')
    with op.batch_alter_table('enterprise', schema=None) as batch_op:
        batch_op.drop_index('uq_enterprise_credit_code_live', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_enterprise_risk_level_id')
        batch_op.drop_index('ix_enterprise_region_code_id')
        batch_op.drop_index('ix_enterprise_node_id_id')
        batch_op.drop_index(batch_op.f('ix_enterprise_node_id'))
        batch_op.drop_index('ix_enterprise_is_key_id')
        batch_op.drop_index('ix_enterprise_industry_id')

    op.drop_table('enterprise')
    with op.batch_alter_table('enrollment_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrollment_code_node_id'))

    op.drop_table('enrollment_code')
    with op.batch_alter_table('bulletin', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulletin_node_id'))

    op.drop_table('bulletin')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_node_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_action'))

    op.drop_table('audit_entry')
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachment_sha256'))
        batch_op.drop_index(batch_op.f('ix_attachment_node_id'))
        batch_op.drop_index('ix_attachment_entity')

    op.drop_table('attachment')
    op.drop_table('unit')
    with op.batch_alter_table('node', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_node_path'))
        batch_op.drop_index(batch_op.f('ix_node_parent_id'))

    op.drop_table('node')
    op.drop_table('case_sequence')
    op.drop_table('audit_head')
