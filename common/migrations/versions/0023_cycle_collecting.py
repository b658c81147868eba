"""The routine cycle's collecting side: risk information gets its review (severity, region, industry, source, status
and the office's comment); tasks travel to their owners' spokes (sync marks kept by triggers on their table); and the
police-only key-person register with its follow-ups (never synced).

Revision ID: 0023
Revises: 0022
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

_TABLES = ("task",)
_MODULUS = 2_147_483_647  # sync/hub/scope.py CHECKSUM_MODULUS

# The same triggers as revision 0007 makes for the other pulled tables (its text, for this table).
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



_INFO_COLUMNS = (
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('industry', sa.String(length=32), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False, server_default=''),
    sa.Column('status', sa.String(length=16), nullable=False, server_default='submitted'),
    sa.Column('comment', sa.Text(), nullable=False, server_default=''),
    sa.Column('reviewed_by', sa.Uuid(), nullable=True),
    sa.Column('reviewed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
)


# Plain ALTER TABLE, never batch mode: on SQLite a batch rebuilds the table, and with it would go the triggers that
# keep sync's marks of info_report. The old `risk_level` column stays and is the severity (low / medium / high).
def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for column in _INFO_COLUMNS:
        op.add_column('info_report', column)
    op.create_index('ix_info_report_status', 'info_report', ['status'], unique=False)
    # The office's word when it sends a task's feedback back (or accepts or cancels it).
    op.add_column('task', sa.Column('comment', sa.Text(), nullable=False, server_default=''))
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
    op.create_table('key_person',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('id_number', sa.String(length=18), nullable=False, server_default=''),
        sa.Column('phone', sa.String(length=32), nullable=False, server_default=''),
        sa.Column('enterprise_id', sa.Uuid(), nullable=True),
        sa.Column('control_level', sa.String(length=16), nullable=False),
        sa.Column('responsible_unit', sa.String(length=64), nullable=True),
        sa.Column('notes', sa.Text(), nullable=False, server_default=''),
        sa.Column('created_by', sa.Uuid(), nullable=True),
        sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_key_person_enterprise_id_enterprise')),
        sa.ForeignKeyConstraint(['responsible_unit'], ['unit.id'], name=op.f('fk_key_person_responsible_unit_unit')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_key_person')),
    )
    op.create_index('ix_key_person_name', 'key_person', ['name'], unique=False)
    op.create_table('key_person_follow_up',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('key_person_id', sa.Uuid(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('by_user', sa.Uuid(), nullable=True),
        sa.Column('by_name', sa.String(length=100), nullable=False, server_default=''),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['key_person_id'], ['key_person.id'], name=op.f('fk_key_person_follow_up_key_person_id_key_person')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_key_person_follow_up')),
    )
    op.create_index('ix_key_person_follow_up_key_person_id', 'key_person_follow_up', ['key_person_id'], unique=False)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index('ix_key_person_follow_up_key_person_id', table_name='key_person_follow_up')
    op.drop_table('key_person_follow_up')
    op.drop_index('ix_key_person_name', table_name='key_person')
    op.drop_table('key_person')
    for table in _TABLES:
        for when in ("insert", "update", "delete"):
            if postgres:
                op.execute(f"DROP TRIGGER IF EXISTS sync_mark_{when} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS sync_mark_{table}_{when}()")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS sync_mark_{table}_{when}")
        op.execute(f"DELETE FROM sync_mark WHERE entity = '{table}'")
    op.drop_column('task', 'comment')
    op.drop_index('ix_info_report_status', table_name='info_report')
    for column in reversed(_INFO_COLUMNS):
        op.drop_column('info_report', column.name)
