"""The visit plan's own table: `last_visit`, one row per live enterprise with its node, risk level, name and last
visit, kept by triggers on `enterprise` and `visit`.

The plan asks which enterprises are due a visit (never visited, or last visited longer ago than their risk level's
cadence), riskiest and longest-waiting first, and how many there are. Worked out from the roster and the visits
that is a pass over every enterprise and every visit on each page (a tenth of a second and more at 100,000
enterprises); from this table, indexed by risk level and last visit, it is a walk of one index range per risk level
and a count of index entries.

The triggers write it only when a row is made or removed, or changes a field the table holds: an enterprise's other
edits and every sync merge that carries none of those fields leave it alone. PostgreSQL's insert and delete triggers
run once per statement (a batch COPY of thousands of rows is one statement); SQLite's run per row. A later migration
that rebuilds `enterprise` or `visit` on SQLite (batch mode) must make its triggers again, as for those of 0002.

Revision ID: 0026
Revises: 0025
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

COLUMNS = "enterprise_id, node_id, risk_level, name, visited_at"
# The last live visit of the enterprise the row is about.
LAST = "(SELECT max(v.visited_at) FROM visit AS v WHERE v.enterprise_id = {id} AND v.deleted_at IS NULL)"
FILL = (f"INSERT INTO last_visit ({COLUMNS}) SELECT e.id, e.node_id, e.risk_level, e.name, v.last FROM enterprise AS e "
        "LEFT JOIN (SELECT enterprise_id, max(visited_at) AS last FROM visit WHERE deleted_at IS NULL "
        "GROUP BY enterprise_id) AS v ON v.enterprise_id = e.id WHERE e.deleted_at IS NULL")
ENTERPRISE_CHANGED = ("OLD.node_id IS DISTINCT FROM NEW.node_id OR OLD.risk_level IS DISTINCT FROM NEW.risk_level "
                      "OR OLD.name IS DISTINCT FROM NEW.name OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at")
VISIT_CHANGED = ("OLD.visited_at IS DISTINCT FROM NEW.visited_at OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at "
                 "OR OLD.enterprise_id IS DISTINCT FROM NEW.enterprise_id")


def _function(name: str, body: str) -> str:
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body}\n    RETURN NULL;\nEND $$"


POSTGRES = [
    _function("last_visit_enterprise_insert",
              f"    INSERT INTO last_visit ({COLUMNS}) SELECT n.id, n.node_id, n.risk_level, n.name, "
              f"{LAST.format(id='n.id')} FROM new_rows AS n WHERE n.deleted_at IS NULL;"),
    "CREATE TRIGGER last_visit_enterprise_insert AFTER INSERT ON enterprise REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION last_visit_enterprise_insert()",
    _function("last_visit_enterprise_update",
              "    IF NEW.deleted_at IS NOT NULL THEN\n"
              "        DELETE FROM last_visit WHERE enterprise_id = NEW.id;\n"
              "    ELSE\n"
              f"        INSERT INTO last_visit ({COLUMNS}) VALUES (NEW.id, NEW.node_id, NEW.risk_level, NEW.name, "
              f"{LAST.format(id='NEW.id')})\n"
              "        ON CONFLICT (enterprise_id) DO UPDATE SET node_id = EXCLUDED.node_id, "
              "risk_level = EXCLUDED.risk_level, name = EXCLUDED.name, visited_at = EXCLUDED.visited_at;\n"
              "    END IF;"),
    "CREATE TRIGGER last_visit_enterprise_update AFTER UPDATE OF node_id, risk_level, name, deleted_at ON enterprise "
    f"FOR EACH ROW WHEN ({ENTERPRISE_CHANGED}) EXECUTE FUNCTION last_visit_enterprise_update()",
    _function("last_visit_enterprise_delete",
              "    DELETE FROM last_visit AS l USING old_rows AS o WHERE l.enterprise_id = o.id;"),
    "CREATE TRIGGER last_visit_enterprise_delete AFTER DELETE ON enterprise REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION last_visit_enterprise_delete()",
    _function("last_visit_enterprise_truncate", "    TRUNCATE last_visit;"),
    "CREATE TRIGGER last_visit_enterprise_truncate AFTER TRUNCATE ON enterprise "
    "FOR EACH STATEMENT EXECUTE FUNCTION last_visit_enterprise_truncate()",
    # A new visit can only move an enterprise's last visit later.
    _function("last_visit_visit_insert",
              "    UPDATE last_visit AS l SET visited_at = n.last\n"
              "    FROM (SELECT enterprise_id, max(visited_at) AS last FROM new_rows WHERE deleted_at IS NULL "
              "GROUP BY enterprise_id) AS n\n"
              "    WHERE l.enterprise_id = n.enterprise_id AND (l.visited_at IS NULL OR l.visited_at < n.last);"),
    "CREATE TRIGGER last_visit_visit_insert AFTER INSERT ON visit REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION last_visit_visit_insert()",
    # A visit moved in time, removed or put back, or moved to another enterprise: its enterprises' last visits again.
    _function("last_visit_visit_update",
              f"    UPDATE last_visit AS l SET visited_at = {LAST.format(id='l.enterprise_id')}\n"
              "    WHERE l.enterprise_id IN (OLD.enterprise_id, NEW.enterprise_id);"),
    "CREATE TRIGGER last_visit_visit_update AFTER UPDATE OF visited_at, deleted_at, enterprise_id ON visit "
    f"FOR EACH ROW WHEN ({VISIT_CHANGED}) EXECUTE FUNCTION last_visit_visit_update()",
    _function("last_visit_visit_delete",
              f"    UPDATE last_visit AS l SET visited_at = {LAST.format(id='l.enterprise_id')}\n"
              "    WHERE l.enterprise_id IN (SELECT enterprise_id FROM old_rows);"),
    "CREATE TRIGGER last_visit_visit_delete AFTER DELETE ON visit REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION last_visit_visit_delete()",
    _function("last_visit_visit_truncate", "    UPDATE last_visit SET visited_at = NULL;"),
    "CREATE TRIGGER last_visit_visit_truncate AFTER TRUNCATE ON visit "
    "FOR EACH STATEMENT EXECUTE FUNCTION last_visit_visit_truncate()",
]
POSTGRES_TRIGGERS = [("enterprise", f"last_visit_enterprise_{when}") for when in ("insert", "update", "delete", "truncate")] + \
    [("visit", f"last_visit_visit_{when}") for when in ("insert", "update", "delete", "truncate")]

SQLITE = [
    f"CREATE TRIGGER last_visit_enterprise_insert AFTER INSERT ON enterprise WHEN NEW.deleted_at IS NULL BEGIN\n"
    f"    INSERT OR REPLACE INTO last_visit ({COLUMNS}) VALUES (NEW.id, NEW.node_id, NEW.risk_level, NEW.name, "
    f"{LAST.format(id='NEW.id')});\nEND",
    "CREATE TRIGGER last_visit_enterprise_update AFTER UPDATE OF node_id, risk_level, name, deleted_at ON enterprise "
    f"WHEN {ENTERPRISE_CHANGED.replace('IS DISTINCT FROM', 'IS NOT')} BEGIN\n"
    "    DELETE FROM last_visit WHERE enterprise_id = NEW.id;\n"
    f"    INSERT INTO last_visit ({COLUMNS}) SELECT NEW.id, NEW.node_id, NEW.risk_level, NEW.name, "
    f"{LAST.format(id='NEW.id')} WHERE NEW.deleted_at IS NULL;\nEND",
    "CREATE TRIGGER last_visit_enterprise_delete AFTER DELETE ON enterprise BEGIN\n"
    "    DELETE FROM last_visit WHERE enterprise_id = OLD.id;\nEND",
    "CREATE TRIGGER last_visit_visit_insert AFTER INSERT ON visit WHEN NEW.deleted_at IS NULL BEGIN\n"
    "    UPDATE last_visit SET visited_at = NEW.visited_at WHERE enterprise_id = NEW.enterprise_id "
    "AND (visited_at IS NULL OR visited_at < NEW.visited_at);\nEND",
    "CREATE TRIGGER last_visit_visit_update AFTER UPDATE OF visited_at, deleted_at, enterprise_id ON visit "
    f"WHEN {VISIT_CHANGED.replace('IS DISTINCT FROM', 'IS NOT')} BEGIN\n"
    f"    UPDATE last_visit SET visited_at = {LAST.format(id='last_visit.enterprise_id')} "
    "WHERE enterprise_id IN (OLD.enterprise_id, NEW.enterprise_id);\nEND",
    "CREATE TRIGGER last_visit_visit_delete AFTER DELETE ON visit BEGIN\n"
    f"    UPDATE last_visit SET visited_at = {LAST.format(id='last_visit.enterprise_id')} "
    "WHERE enterprise_id = OLD.enterprise_id;\nEND",
]
SQLITE_TRIGGERS = ["last_visit_enterprise_insert", "last_visit_enterprise_update", "last_visit_enterprise_delete",
                   "last_visit_visit_insert", "last_visit_visit_update", "last_visit_visit_delete"]


def upgrade() -> None:
    op.create_table('last_visit',
    sa.Column('enterprise_id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('risk_level', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('visited_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('enterprise_id', name=op.f('pk_last_visit'))
    )
    op.execute(FILL)
    op.create_index('ix_last_visit_risk_level_visited_at_name', 'last_visit', ['risk_level', 'visited_at', 'name'])
    op.create_index('ix_last_visit_node_id_risk_level_visited_at_name', 'last_visit',
                    ['node_id', 'risk_level', 'visited_at', 'name'])
    for statement in POSTGRES if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name in POSTGRES_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index('ix_last_visit_node_id_risk_level_visited_at_name', table_name='last_visit')
    op.drop_index('ix_last_visit_risk_level_visited_at_name', table_name='last_visit')
    op.drop_table('last_visit')
