"""Settings the office keeps as data; sync marks kept by triggers (what is new for a node, and its digest).

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# The pulled tables (sync/entities.py), whose entity names are their table names.
_PULLED = ("enterprise", "person", "node_application", "case_record", "case_event", "visit", "info_report",
           "attachment")
_MODULUS = 2_147_483_647  # sync/hub/scope.py CHECKSUM_MODULUS


def upgrade() -> None:
    op.create_table('setting',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_by', sa.Uuid(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_setting'))
    )
    op.create_table('sync_mark',
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('row_id', sa.Uuid(), nullable=True),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('checksum', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('node_id', 'entity', name=op.f('pk_sync_mark'))
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in (_postgres() if postgres else _sqlite()):
        op.execute(statement)
    for table in _PULLED:
        op.execute(_fill(table, postgres))
    op.execute("INSERT INTO sync_mark (node_id, entity, version, row_id, rows, checksum) "
               "SELECT from_node, '_move', max(version), NULL, 0, 0 FROM sync_move GROUP BY from_node")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in (*_PULLED, "sync_move"):
        for when in ("insert", "update", "delete"):
            if postgres:
                op.execute(f"DROP TRIGGER IF EXISTS sync_mark_{when} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS sync_mark_{table}_{when}()")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS sync_mark_{table}_{when}")
    op.drop_table('sync_mark')
    op.drop_table('setting')


def _fill(table: str, postgres: bool) -> str:
    """The marks of the rows already there."""
    last = ("(array_agg(id ORDER BY version DESC, id DESC))[1]" if postgres else
            f"(SELECT t2.id FROM {table} t2 WHERE t2.node_id = t.node_id ORDER BY t2.version DESC, t2.id DESC LIMIT 1)")
    return (f"INSERT INTO sync_mark (node_id, entity, version, row_id, rows, checksum) "
            f"SELECT node_id, '{table}', max(version), {last}, count(*), sum(version % {_MODULUS}) "
            f"FROM {table} t GROUP BY node_id")


# --- PostgreSQL: statement-level triggers over the transition tables (one upsert per statement, not per row) ----

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

_PG_MOVE = """
    INSERT INTO sync_mark AS m (node_id, entity, version, row_id, rows, checksum)
    SELECT from_node, '_move', max(version), NULL, 0, 0 FROM new_rows GROUP BY from_node
    ON CONFLICT (node_id, entity) DO UPDATE SET version = greatest(m.version, EXCLUDED.version);"""


def _postgres() -> list[str]:
    out = []
    for table in _PULLED:
        bodies = {"insert": _PG_ADD, "update": _PG_SUBTRACT + _PG_ADD, "delete": _PG_SUBTRACT}
        for when, body in bodies.items():
            sql = body.format(entity=table, modulus=_MODULUS)
            out.append(f"CREATE FUNCTION sync_mark_{table}_{when}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                       f"BEGIN{sql}\n    RETURN NULL;\nEND $$")
            transition = {"insert": "NEW TABLE AS new_rows", "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                          "delete": "OLD TABLE AS old_rows"}[when]
            out.append(f"CREATE TRIGGER sync_mark_{when} AFTER {when.upper()} ON {table} REFERENCING {transition} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION sync_mark_{table}_{when}()")
    out.append(f"CREATE FUNCTION sync_mark_sync_move_insert() RETURNS trigger LANGUAGE plpgsql AS $$\n"
               f"BEGIN{_PG_MOVE}\n    RETURN NULL;\nEND $$")
    out.append("CREATE TRIGGER sync_mark_insert AFTER INSERT ON sync_move REFERENCING NEW TABLE AS new_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION sync_mark_sync_move_insert()")
    return out


# --- SQLite: row-level triggers (SQLite has no statement-level ones) -------------------------------------------

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


def _sqlite() -> list[str]:
    out = []
    for table in _PULLED:
        bodies = {"insert": _SQLITE_ADD, "update": _SQLITE_SUBTRACT + _SQLITE_ADD, "delete": _SQLITE_SUBTRACT}
        for when, body in bodies.items():
            sql = body.format(entity=table, modulus=_MODULUS)
            out.append(f"CREATE TRIGGER sync_mark_{table}_{when} AFTER {when.upper()} ON {table} BEGIN{sql}\nEND")
    out.append("CREATE TRIGGER sync_mark_sync_move_insert AFTER INSERT ON sync_move BEGIN\n"
               "    INSERT INTO sync_mark (node_id, entity, version, row_id, rows, checksum)\n"
               "    VALUES (NEW.from_node, '_move', NEW.version, NULL, 0, 0)\n"
               "    ON CONFLICT (node_id, entity) DO UPDATE SET version = max(version, excluded.version);\nEND")
    return out
