"""Deadlines kept with each event (a dispatch's sign-for and report-back deadlines, an extension's new date), each
dispatch's deadlines and next escalation step on its unit row, and the index the escalation job reads.

Revision ID: 0021
Revises: 0020
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, never batch mode: on SQLite a batch rebuilds the table, and with it would go the triggers that
# keep sync's marks of case_event (migration 0010).
def upgrade() -> None:
    op.add_column('case_event', sa.Column('details', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    op.add_column('case_unit', sa.Column('sign_by', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
    op.add_column('case_unit', sa.Column('report_by', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
    op.add_column('case_unit', sa.Column('next_check', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
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
    op.drop_column('case_unit', 'next_check')
    op.drop_column('case_unit', 'report_by')
    op.drop_column('case_unit', 'sign_by')
    op.drop_column('case_event', 'details')
