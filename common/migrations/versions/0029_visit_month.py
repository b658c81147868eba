"""Visits counted per node and month: `visit_month` (node_id, month, visits), kept by triggers on `visit`.

The statistics page shows a year of visits by sub-center and month. Counted from the visits that is a pass over a
year of them on every page (a tenth of a second at a hub of 100,000 enterprises visited on their cadence); from
this table it is a few hundred rows. A month is the month in Beijing time, as the page shows it
(common/dashboard/stats.py: month_of).

The triggers count a visit while it is live (not removed): made, removed or put back, moved to another node or
another month. A row whose count falls to nought stays, counting nought. As for revision 0026, a later migration
that rebuilds `visit` on SQLite must make its triggers again.

Revision ID: 0029
Revises: 0028
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

PG_MONTH = "to_char(timezone('Asia/Shanghai', {row}.visited_at), 'YYYY-MM')"
SQLITE_MONTH = "strftime('%Y-%m', {row}.visited_at, '+8 hours')"
CHANGED = ("OLD.node_id IS DISTINCT FROM NEW.node_id OR OLD.visited_at IS DISTINCT FROM NEW.visited_at "
           "OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at")


def _function(name: str, body: str) -> str:
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body}\n    RETURN NULL;\nEND $$"


POSTGRES = [
    _function("visit_month_insert",
              f"    INSERT INTO visit_month AS m (node_id, month, visits)\n"
              f"    SELECT n.node_id, {PG_MONTH.format(row='n')}, count(*) FROM new_rows AS n "
              "WHERE n.deleted_at IS NULL GROUP BY 1, 2\n"
              "    ON CONFLICT (node_id, month) DO UPDATE SET visits = m.visits + EXCLUDED.visits;"),
    "CREATE TRIGGER visit_month_insert AFTER INSERT ON visit REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION visit_month_insert()",
    _function("visit_month_update",
              "    IF OLD.deleted_at IS NULL THEN\n"
              "        UPDATE visit_month SET visits = visits - 1 "
              f"WHERE node_id = OLD.node_id AND month = {PG_MONTH.format(row='OLD')};\n"
              "    END IF;\n"
              "    IF NEW.deleted_at IS NULL THEN\n"
              f"        INSERT INTO visit_month AS m (node_id, month, visits) VALUES (NEW.node_id, {PG_MONTH.format(row='NEW')}, 1)\n"
              "        ON CONFLICT (node_id, month) DO UPDATE SET visits = m.visits + 1;\n"
              "    END IF;"),
    "CREATE TRIGGER visit_month_update AFTER UPDATE OF node_id, visited_at, deleted_at ON visit "
    f"FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION visit_month_update()",
    _function("visit_month_delete",
              "    UPDATE visit_month AS m SET visits = m.visits - o.n\n"
              f"    FROM (SELECT node_id, {PG_MONTH.format(row='old_rows')} AS month, count(*) AS n FROM old_rows "
              "WHERE deleted_at IS NULL GROUP BY 1, 2) AS o\n"
              "    WHERE m.node_id = o.node_id AND m.month = o.month;"),
    "CREATE TRIGGER visit_month_delete AFTER DELETE ON visit REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION visit_month_delete()",
    _function("visit_month_truncate", "    TRUNCATE visit_month;"),
    "CREATE TRIGGER visit_month_truncate AFTER TRUNCATE ON visit FOR EACH STATEMENT EXECUTE FUNCTION visit_month_truncate()",
]
POSTGRES_TRIGGERS = ["visit_month_insert", "visit_month_update", "visit_month_delete", "visit_month_truncate"]

SQLITE = [
    "CREATE TRIGGER visit_month_insert AFTER INSERT ON visit WHEN NEW.deleted_at IS NULL BEGIN\n"
    f"    INSERT INTO visit_month (node_id, month, visits) VALUES (NEW.node_id, {SQLITE_MONTH.format(row='NEW')}, 1)\n"
    "    ON CONFLICT (node_id, month) DO UPDATE SET visits = visits + 1;\nEND",
    "CREATE TRIGGER visit_month_update AFTER UPDATE OF node_id, visited_at, deleted_at ON visit "
    f"WHEN {CHANGED.replace('IS DISTINCT FROM', 'IS NOT')} BEGIN\n"
    "    UPDATE visit_month SET visits = visits - 1 "
    f"WHERE OLD.deleted_at IS NULL AND node_id = OLD.node_id AND month = {SQLITE_MONTH.format(row='OLD')};\n"
    f"    INSERT INTO visit_month (node_id, month, visits) SELECT NEW.node_id, {SQLITE_MONTH.format(row='NEW')}, 1 "
    "WHERE NEW.deleted_at IS NULL\n"
    "    ON CONFLICT (node_id, month) DO UPDATE SET visits = visits + 1;\nEND",
    "CREATE TRIGGER visit_month_delete AFTER DELETE ON visit WHEN OLD.deleted_at IS NULL BEGIN\n"
    "    UPDATE visit_month SET visits = visits - 1 "
    f"WHERE node_id = OLD.node_id AND month = {SQLITE_MONTH.format(row='OLD')};\nEND",
]
SQLITE_TRIGGERS = ["visit_month_insert", "visit_month_update", "visit_month_delete"]


def upgrade() -> None:
    op.create_table('visit_month',
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('node_id', 'month', name=op.f('pk_visit_month'))
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    month = (PG_MONTH if postgres else SQLITE_MONTH).format(row="visit")
    op.execute(f"INSERT INTO visit_month (node_id, month, visits) SELECT node_id, {month}, count(*) FROM visit "
               "WHERE deleted_at IS NULL GROUP BY 1, 2")
    for statement in POSTGRES if postgres else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in POSTGRES_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON visit")
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table('visit_month')
