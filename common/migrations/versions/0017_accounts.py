"""The office manages accounts: an e-mail address per account, and one-time links where a person sets a password.

Revision ID: 0017
Revises: 0016
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column: a plain ALTER TABLE on both databases, no table rebuilt on SQLite.
    op.execute("ALTER TABLE user_account ADD COLUMN email VARCHAR(200)")
    op.create_table('account_setup',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('expires_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('used_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('issued_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_account_setup_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_setup'))
    )
    with op.batch_alter_table('account_setup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_setup_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('account_setup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_setup_user_id'))
    op.drop_table('account_setup')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('email')
