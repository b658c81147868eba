"""Deadlines kept with each event (a dispatch's sign-for and report-back deadlines, an extension's new date), each
dispatch's deadlines and next escalation step on its unit row, and the index the escalation job reads.

Revision ID: 0021
Revises: 0019
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.alter_column('details', server_default=None)

    with op.batch_alter_table('case_unit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sign_by', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('report_by', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_check', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
    op.create_index('ix_case_unit_next_check', 'case_unit', ['next_check'], unique=False,
                    postgresql_where=sa.text('next_check IS NOT NULL'), sqlite_where=sa.text('next_check IS NOT NULL'))
    # Dispatches already open: the escalation job looks at each once (their deadlines from the urgency's constants,
    # as before) and schedules their next steps from there.
    op.execute(sa.text(
        "UPDATE case_unit SET next_check = CURRENT_TIMESTAMP WHERE active = :yes AND NOT (signed = :yes AND reported = :yes) "
        "AND case_id IN (SELECT id FROM case_record WHERE deleted_at IS NULL "
        "AND status IN ('accepted', 'dispatched', 'handling', 'reported'))").bindparams(yes=True))


def downgrade() -> None:
    op.drop_index('ix_case_unit_next_check', table_name='case_unit')
    with op.batch_alter_table('case_unit', schema=None) as batch_op:
        batch_op.drop_column('next_check')
        batch_op.drop_column('report_by')
        batch_op.drop_column('sign_by')
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.drop_column('details')
