"""Joint meetings with their agenda, minutes and resolutions, and the annual questionnaire with an answer per
workstation that syncs to and from its spoke (sync marks kept by triggers, as revision 0010 makes them).

Revision ID: 0025
Revises: 0024
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

_TABLES = ("survey_answer",)
_MODULUS = 2_147_483_647  # sync/hub/scope.py CHECKSUM_MODULUS

# The same triggers as revision 0007 makes for the other pulled tables (its text, for these two tables).
_PG_ADD = """
    INSERT INTO sync_mark AS m (node_id, entity, version, row_id, rows, checksum)
    SELECT node_id, '{entity}', max(version), (array_agg(id ORDER BY version DESC, id DESC))[1], count(*),
           sum(version % {modulus})
    FROM new_rows GROUP BY node_id
    ON CONFLICT (node_id, entity) DO UPDATE SET
        rows = m.rows + EXCLUDED.rows,
        checksum = m.checksum + EXCLUDED.checksum,
        version = CASE WHEN (EXCLUDED.version, EXCLUDED.row_id) > (m.version, m.row_id) OR m.row_id IS NULL
                       THEN EXCLUDED.version ELSE m.version END,
        row_id = CASE WHEN (EXCLUDED.version, EXCLUDED.row_id) > (m.version, m.row_id) OR m.row_id IS NULL
                      THEN EXCLUDED.row_id ELSE m.row_id END;"""

_PG_SUBTRACT = """
    UPDATE sync_mark AS m SET rows = m.rows - o.n, checksum = m.checksum - o.s
    FROM (SELECT node_id, count(*) AS n, sum(version % {modulus}) AS s FROM old_rows GROUP BY node_id) AS o
    WHERE m.node_id = o.node_id AND m.entity = '{entity}';"""

_SQLITE_ADD = """
    INSERT INTO sync_mark (node_id, entity, version, row_id, rows, checksum)
    VALUES (NEW.node_id, '{entity}', NEW.version, NEW.id, 1, NEW.version % {modulus})
    ON CONFLICT (node_id, entity) DO UPDATE SET
        rows = rows + 1,
        checksum = checksum + excluded.checksum,
        version = CASE WHEN row_id IS NULL OR (excluded.version, excluded.row_id) > (version, row_id)
                       THEN excluded.version ELSE version END,
        row_id = CASE WHEN row_id IS NULL OR (excluded.version, excluded.row_id) > (version, row_id)
                      THEN excluded.row_id ELSE row_id END;"""

_SQLITE_SUBTRACT = """
    UPDATE sync_mark SET rows = rows - 1, checksum = checksum - OLD.version % {modulus}
    WHERE node_id = OLD.node_id AND entity = '{entity}';"""




def _dt(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=nullable)


def _stamps() -> list[sa.Column]:
    return [_dt('created_at', False), _dt('updated_at', False), sa.Column('version', sa.BigInteger(), nullable=False),
            _dt('deleted_at', True)]


def upgrade() -> None:
    op.create_table('meeting',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    _dt('held_at', True),
    sa.Column('attendees', sa.JSON(), nullable=False),
    sa.Column('agenda', sa.JSON(), nullable=False),
    sa.Column('minutes', sa.Text(), nullable=False),
    sa.Column('resolutions', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    *_stamps(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting')),
    )
    op.create_table('survey',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    _dt('sent_at', True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    *_stamps(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey')),
    )
    op.create_table('survey_answer',
    sa.Column('survey_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('ratings', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    _dt('answered_at', True),
    sa.Column('answered_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('field_versions', sa.JSON(), nullable=True),
    *_stamps(),
    sa.ForeignKeyConstraint(['node_id'], ['node.id'], name=op.f('fk_survey_answer_node_id_node')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_answer')),
    sa.UniqueConstraint('survey_id', 'node_id', name='uq_survey_answer_survey_id_node_id'),
    )
    with op.batch_alter_table('survey_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_answer_survey_id'), ['survey_id'], unique=False)
        batch_op.create_index('ix_survey_answer_node_id_version', ['node_id', 'version', 'id'], unique=False)
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        for when in ("insert", "update", "delete"):
            if postgres:
                body = {"insert": _PG_ADD, "update": _PG_SUBTRACT + _PG_ADD, "delete": _PG_SUBTRACT}[when]
                transition = {"insert": "NEW TABLE AS new_rows", "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                              "delete": "OLD TABLE AS old_rows"}[when]
                op.execute(f"CREATE FUNCTION sync_mark_{table}_{when}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                           f"BEGIN{body.format(entity=table, modulus=_MODULUS)}\n    RETURN NULL;\nEND $$")
                op.execute(f"CREATE TRIGGER sync_mark_{when} AFTER {when.upper()} ON {table} REFERENCING {transition} "
                           f"FOR EACH STATEMENT EXECUTE FUNCTION sync_mark_{table}_{when}()")
            else:
                body = {"insert": _SQLITE_ADD, "update": _SQLITE_SUBTRACT + _SQLITE_ADD, "delete": _SQLITE_SUBTRACT}[when]
                op.execute(f"CREATE TRIGGER sync_mark_{table}_{when} AFTER {when.upper()} ON {table} "
                           f"BEGIN{body.format(entity=table, modulus=_MODULUS)}\nEND")
        last = ("(array_agg(id ORDER BY version DESC, id DESC))[1]" if postgres else
                f"(SELECT t2.id FROM {table} t2 WHERE t2.node_id = t.node_id ORDER BY t2.version DESC, t2.id DESC LIMIT 1)")
        op.execute(f"INSERT INTO sync_mark (node_id, entity, version, row_id, rows, checksum) "
                   f"SELECT node_id, '{table}', max(version), {last}, count(*), sum(version % {_MODULUS}) "
                   f"FROM {table} t GROUP BY node_id")




def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        for when in ("insert", "update", "delete"):
            if postgres:
                op.execute(f"DROP TRIGGER IF EXISTS sync_mark_{when} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS sync_mark_{table}_{when}()")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS sync_mark_{table}_{when}")
        op.execute(f"DELETE FROM sync_mark WHERE entity = '{table}'")
    op.drop_table('survey_answer')
    op.drop_table('survey')
    op.drop_table('meeting')
