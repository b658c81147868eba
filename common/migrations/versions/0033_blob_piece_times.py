"""When each piece of a file in the hub's database was written (`hub_blob_chunk.written_at`): the pieces of an upload
left unfinished for long are cleared by the `upload-leftovers` job. Pieces already here count as written now.

Revision ID: 0033
Revises: 0032
"""
from __future__ import annotations

from datetime import UTC, datetime

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)
    op.add_column('hub_blob_chunk', sa.Column('written_at', moment, nullable=True))
    op.execute(sa.text("UPDATE hub_blob_chunk SET written_at = :now")
               .bindparams(sa.bindparam("now", datetime.now(UTC), type_=moment)))


def downgrade() -> None:
    op.drop_column('hub_blob_chunk', 'written_at')
