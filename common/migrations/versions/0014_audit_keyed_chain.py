"""The hub's audit chain linked with a key the database does not hold, and signed checkpoints of it for witnesses.

Entries already written keep their plain sha256 links: `audit_head.keyed_from` stays empty until the first entry
linked with the key, and from that entry on every entry must be.

Revision ID: 0014
Revises: 0013
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: a nullable column needs no rebuilt table on SQLite.
    op.execute("ALTER TABLE audit_head ADD COLUMN keyed_from BIGINT")
    op.create_table('audit_checkpoint',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('issued_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('jws', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoint'))
    )
    with op.batch_alter_table('audit_checkpoint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_checkpoint_issued_at'), ['issued_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_checkpoint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_checkpoint_issued_at'))
    op.drop_table('audit_checkpoint')
    op.execute("ALTER TABLE audit_head DROP COLUMN keyed_from")
