"""Notices travel to the spokes of their people: sync marks kept by triggers on their table too; and the header's
unread count reads a partial index of the unread notices only.

Revision ID: 0020
Revises: 0019
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

_TABLES = ("notification",)
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


_UNREAD = "read_at IS NULL AND deleted_at IS NULL"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_index("ix_notification_unread_user_id", "notification", ["user_id"], unique=False,
                    postgresql_where=sa.text(_UNREAD), sqlite_where=sa.text(_UNREAD))
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
    op.drop_index("ix_notification_unread_user_id", table_name="notification")
    for table in _TABLES:
        for when in ("insert", "update", "delete"):
            if postgres:
                op.execute(f"DROP TRIGGER IF EXISTS sync_mark_{when} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS sync_mark_{table}_{when}()")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS sync_mark_{table}_{when}")
        op.execute(f"DELETE FROM sync_mark WHERE entity = '{table}'")
