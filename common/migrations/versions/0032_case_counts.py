"""The statistics page's requests and on-time rates counted as they are written, not per page.

- `case_unit` keeps its dispatch's times beside its deadlines: `dispatched_at`, `signed_at`, `reported_at` (the
  unit's latest dispatch and the steps after it, as `unit_clock` reads the timeline), written by the projection.
- `case_month` (node_id, category, month, cases): the live cases per node, category and month, kept by triggers on
  `case_record`.
- `unit_case_month` (unit_id, category, month, cases): the same per police unit, of the cases it was given (a
  liaison's cases), kept by triggers on `case_unit` and on `case_record`.
- `unit_month` (unit_id, month, dispatched, signed, signed_on_time, reported, reported_on_time): each unit's
  dispatches of the month that it is still on, and their steps done and done in time, kept by triggers on
  `case_unit`. A step not yet done turns late with the clock, not with a write: the page counts those from
  `case_unit` through `ix_case_unit_open_steps`, a handful of rows.

A year of a hub of a million cases was a pass over all of them per page; these are a few hundred rows. A month is
the month in Beijing time, as the page shows it (common/dashboard/stats.py: month_of). Plain ALTER TABLE, never batch
mode: on SQLite a batch rebuilds the table and drops the triggers kept on it.

Revision ID: 0032
Revises: 0031
"""
from __future__ import annotations

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op


revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None

OPEN_STEPS = "active AND dispatched_at IS NOT NULL AND (signed_at IS NULL OR reported_at IS NULL)"
PG_MONTH = "to_char(timezone('Asia/Shanghai', {row}.{column}), 'YYYY-MM')"
SQLITE_MONTH = "strftime('%Y-%m', {row}.{column}, '+8 hours')"


def _month(postgres: bool, row: str, column: str) -> str:
    return (PG_MONTH if postgres else SQLITE_MONTH).format(row=row, column=column)


def _function(name: str, body: str) -> str:
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body}\n    RETURN NULL;\nEND $$"


# ── case_month, from case_record ─────────────────────────────────────────────────────────────────────────────

CASE_KEY = "node_id, category, month"
CASE_CHANGED = ("OLD.node_id IS DISTINCT FROM NEW.node_id OR OLD.category IS DISTINCT FROM NEW.category "
                "OR OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at")


def _case_counts(postgres: bool, row: str, sign: str) -> str:
    """Add (`+`) or take away (`-`) one live case `row` (OLD or NEW) from its node, category and month."""
    month = _month(postgres, row, "created_at")
    if sign == "-":
        return (f"UPDATE case_month SET cases = cases - 1 WHERE node_id = {row}.node_id "
                f"AND category = {row}.category AND month = {month}")
    return (f"INSERT INTO case_month (node_id, category, month, cases) VALUES ({row}.node_id, {row}.category, {month}, 1) "
            f"ON CONFLICT ({CASE_KEY}) DO UPDATE SET cases = case_month.cases + 1")


def _case_triggers(postgres: bool) -> list[str]:
    if postgres:
        return [
            _function("case_month_insert",
                      f"    INSERT INTO case_month AS m (node_id, category, month, cases)\n"
                      f"    SELECT n.node_id, n.category, {_month(True, 'n', 'created_at')}, count(*) FROM new_rows AS n "
                      "WHERE n.deleted_at IS NULL GROUP BY 1, 2, 3\n"
                      f"    ON CONFLICT ({CASE_KEY}) DO UPDATE SET cases = m.cases + EXCLUDED.cases;"),
            "CREATE TRIGGER case_month_insert AFTER INSERT ON case_record REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION case_month_insert()",
            _function("case_month_update",
                      f"    IF OLD.deleted_at IS NULL THEN\n        {_case_counts(True, 'OLD', '-')};\n    END IF;\n"
                      f"    IF NEW.deleted_at IS NULL THEN\n        {_case_counts(True, 'NEW', '+')};\n    END IF;"),
            "CREATE TRIGGER case_month_update AFTER UPDATE OF node_id, category, created_at, deleted_at ON case_record "
            f"FOR EACH ROW WHEN ({CASE_CHANGED}) EXECUTE FUNCTION case_month_update()",
            _function("case_month_delete",
                      "    UPDATE case_month AS m SET cases = m.cases - o.n\n"
                      f"    FROM (SELECT node_id, category, {_month(True, 'old_rows', 'created_at')} AS month, count(*) AS n "
                      "FROM old_rows WHERE deleted_at IS NULL GROUP BY 1, 2, 3) AS o\n"
                      "    WHERE m.node_id = o.node_id AND m.category = o.category AND m.month = o.month;"),
            "CREATE TRIGGER case_month_delete AFTER DELETE ON case_record REFERENCING OLD TABLE AS old_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION case_month_delete()",
            _function("case_month_truncate", "    TRUNCATE case_month;"),
            "CREATE TRIGGER case_month_truncate AFTER TRUNCATE ON case_record FOR EACH STATEMENT "
            "EXECUTE FUNCTION case_month_truncate()",
        ]
    changed = CASE_CHANGED.replace("IS DISTINCT FROM", "IS NOT")
    return [
        f"CREATE TRIGGER case_month_insert AFTER INSERT ON case_record WHEN NEW.deleted_at IS NULL BEGIN\n"
        f"    {_case_counts(False, 'NEW', '+')};\nEND",
        "CREATE TRIGGER case_month_update AFTER UPDATE OF node_id, category, created_at, deleted_at ON case_record "
        f"WHEN {changed} BEGIN\n"
        f"    {_case_counts(False, 'OLD', '-')} AND OLD.deleted_at IS NULL;\n"
        f"    INSERT INTO case_month (node_id, category, month, cases) SELECT NEW.node_id, NEW.category, "
        f"{_month(False, 'NEW', 'created_at')}, 1 WHERE NEW.deleted_at IS NULL\n"
        f"    ON CONFLICT ({CASE_KEY}) DO UPDATE SET cases = case_month.cases + 1;\nEND",
        f"CREATE TRIGGER case_month_delete AFTER DELETE ON case_record WHEN OLD.deleted_at IS NULL BEGIN\n"
        f"    {_case_counts(False, 'OLD', '-')};\nEND",
    ]


# ── unit_case_month, from case_unit and case_record ──────────────────────────────────────────────────────────

UNIT_CASE_KEY = "unit_id, category, month"


def _unit_cases_take(postgres: bool, case: str) -> str:
    """Take one case (`OLD`) away from each unit it was given to."""
    return (f"UPDATE unit_case_month SET cases = cases - 1 WHERE category = {case}.category "
            f"AND month = {_month(postgres, case, 'created_at')} "
            f"AND unit_id IN (SELECT u.unit_id FROM case_unit u WHERE u.case_id = {case}.id)")


def _unit_cases_add(postgres: bool, case: str, where: str = "") -> str:
    """Add one case (`NEW`) to each unit it was given to."""
    extra = f" AND {where}" if where else ""
    return (f"INSERT INTO unit_case_month (unit_id, category, month, cases) SELECT u.unit_id, {case}.category, "
            f"{_month(postgres, case, 'created_at')}, 1 FROM case_unit u WHERE u.case_id = {case}.id{extra}\n"
            f"    ON CONFLICT ({UNIT_CASE_KEY}) DO UPDATE SET cases = unit_case_month.cases + 1")


def _unit_case_row(postgres: bool, row: str, sign: str) -> str:
    """Add or take away the case of one unit row (`NEW` given, `OLD` taken away), while the case is live."""
    month = _month(postgres, "c", "created_at")
    if sign == "-":
        return (f"UPDATE unit_case_month AS m SET cases = m.cases - 1 FROM case_record c WHERE c.id = {row}.case_id "
                f"AND c.deleted_at IS NULL AND m.unit_id = {row}.unit_id AND m.category = c.category AND m.month = {month}")
    return (f"INSERT INTO unit_case_month (unit_id, category, month, cases) SELECT {row}.unit_id, c.category, {month}, 1 "
            f"FROM case_record c WHERE c.id = {row}.case_id AND c.deleted_at IS NULL\n"
            f"    ON CONFLICT ({UNIT_CASE_KEY}) DO UPDATE SET cases = unit_case_month.cases + 1")


def _unit_case_triggers(postgres: bool) -> list[str]:
    if postgres:
        return [
            _function("unit_case_month_change",
                      f"    IF TG_OP = 'DELETE' THEN\n        {_unit_case_row(True, 'OLD', '-')};\n"
                      f"    ELSE\n        {_unit_case_row(True, 'NEW', '+')};\n    END IF;"),
            "CREATE TRIGGER unit_case_month_insert AFTER INSERT ON case_unit FOR EACH ROW "
            "EXECUTE FUNCTION unit_case_month_change()",
            "CREATE TRIGGER unit_case_month_delete AFTER DELETE ON case_unit FOR EACH ROW "
            "EXECUTE FUNCTION unit_case_month_change()",
            _function("unit_case_month_case",
                      f"    IF OLD.deleted_at IS NULL THEN\n        {_unit_cases_take(True, 'OLD')};\n    END IF;\n"
                      f"    IF NEW.deleted_at IS NULL THEN\n        {_unit_cases_add(True, 'NEW')};\n    END IF;"),
            "CREATE TRIGGER unit_case_month_case AFTER UPDATE OF category, created_at, deleted_at ON case_record "
            f"FOR EACH ROW WHEN ({UNIT_CASE_CHANGED}) EXECUTE FUNCTION unit_case_month_case()",
            _function("unit_case_month_truncate", "    TRUNCATE unit_case_month;"),
            "CREATE TRIGGER unit_case_month_truncate AFTER TRUNCATE ON case_unit FOR EACH STATEMENT "
            "EXECUTE FUNCTION unit_case_month_truncate()",
        ]
    # SQLite's trigger bodies take no UPDATE ... FROM: the unit row's case is found by a subquery.
    month = _month(False, "c", "created_at")
    changed = UNIT_CASE_CHANGED.replace("IS DISTINCT FROM", "IS NOT")
    return [
        f"CREATE TRIGGER unit_case_month_insert AFTER INSERT ON case_unit BEGIN\n    {_unit_case_row(False, 'NEW', '+')};\nEND",
        "CREATE TRIGGER unit_case_month_delete AFTER DELETE ON case_unit BEGIN\n"
        "    UPDATE unit_case_month SET cases = cases - 1 WHERE unit_id = OLD.unit_id AND EXISTS (SELECT 1 FROM case_record c "
        f"WHERE c.id = OLD.case_id AND c.deleted_at IS NULL AND c.category = unit_case_month.category AND {month} = unit_case_month.month);\nEND",
        f"CREATE TRIGGER unit_case_month_case AFTER UPDATE OF category, created_at, deleted_at ON case_record WHEN {changed} BEGIN\n"
        f"    {_unit_cases_take(False, 'OLD')} AND OLD.deleted_at IS NULL;\n"
        f"    {_unit_cases_add(False, 'NEW', 'NEW.deleted_at IS NULL')};\nEND",
    ]


UNIT_CASE_CHANGED = ("OLD.category IS DISTINCT FROM NEW.category OR OLD.created_at IS DISTINCT FROM NEW.created_at "
                     "OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at")


# ── unit_month, from case_unit ───────────────────────────────────────────────────────────────────────────────

UNIT_CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in
                           ("active", "dispatched_at", "signed_at", "reported_at", "sign_by", "report_by", "unit_id"))
COUNTED = "{row}.active AND {row}.dispatched_at IS NOT NULL"


def _unit_values(row: str) -> list[str]:
    """dispatched, signed, signed_on_time, reported, reported_on_time of one dispatch row, each 0 or 1."""
    return ["1",
            f"CASE WHEN {row}.signed_at IS NOT NULL THEN 1 ELSE 0 END",
            f"CASE WHEN {row}.signed_at <= {row}.sign_by THEN 1 ELSE 0 END",
            f"CASE WHEN {row}.reported_at IS NOT NULL THEN 1 ELSE 0 END",
            f"CASE WHEN {row}.reported_at <= {row}.report_by THEN 1 ELSE 0 END"]


UNIT_COLUMNS = ["dispatched", "signed", "signed_on_time", "reported", "reported_on_time"]


def _unit_take(postgres: bool, row: str) -> str:
    sets = ", ".join(f"{c} = {c} - {v}" for c, v in zip(UNIT_COLUMNS, _unit_values(row)))
    return f"UPDATE unit_month SET {sets} WHERE unit_id = {row}.unit_id AND month = {_month(postgres, row, 'dispatched_at')}"


def _unit_add(postgres: bool, row: str, where: str = "") -> str:
    adds = ", ".join(f"{c} = unit_month.{c} + EXCLUDED.{c}" for c in UNIT_COLUMNS)
    values = ", ".join(_unit_values(row))
    source = (f"SELECT {row}.unit_id, {_month(postgres, row, 'dispatched_at')}, {values} WHERE {where}" if where
              else f"VALUES ({row}.unit_id, {_month(postgres, row, 'dispatched_at')}, {values})")
    return (f"INSERT INTO unit_month (unit_id, month, {', '.join(UNIT_COLUMNS)}) {source}\n"
            f"    ON CONFLICT (unit_id, month) DO UPDATE SET {adds}")


def _unit_triggers(postgres: bool) -> list[str]:
    if postgres:
        old, new = COUNTED.format(row="OLD"), COUNTED.format(row="NEW")
        return [
            _function("unit_month_change",
                      f"    IF TG_OP IN ('UPDATE', 'DELETE') AND {old} THEN\n        {_unit_take(True, 'OLD')};\n    END IF;\n"
                      f"    IF TG_OP IN ('INSERT', 'UPDATE') AND {new} THEN\n        {_unit_add(True, 'NEW')};\n    END IF;"),
            "CREATE TRIGGER unit_month_insert AFTER INSERT ON case_unit FOR EACH ROW EXECUTE FUNCTION unit_month_change()",
            f"CREATE TRIGGER unit_month_update AFTER UPDATE ON case_unit FOR EACH ROW WHEN ({UNIT_CHANGED}) "
            "EXECUTE FUNCTION unit_month_change()",
            "CREATE TRIGGER unit_month_delete AFTER DELETE ON case_unit FOR EACH ROW EXECUTE FUNCTION unit_month_change()",
            _function("unit_month_truncate", "    TRUNCATE unit_month;"),
            "CREATE TRIGGER unit_month_truncate AFTER TRUNCATE ON case_unit FOR EACH STATEMENT "
            "EXECUTE FUNCTION unit_month_truncate()",
        ]
    old, new = COUNTED.format(row="OLD"), COUNTED.format(row="NEW")
    changed = UNIT_CHANGED.replace("IS DISTINCT FROM", "IS NOT")
    return [
        f"CREATE TRIGGER unit_month_insert AFTER INSERT ON case_unit WHEN {new} BEGIN\n    {_unit_add(False, 'NEW')};\nEND",
        f"CREATE TRIGGER unit_month_update AFTER UPDATE ON case_unit WHEN {changed} BEGIN\n"
        f"    {_unit_take(False, 'OLD')} AND {old};\n"
        f"    {_unit_add(False, 'NEW', new)};\nEND",
        f"CREATE TRIGGER unit_month_delete AFTER DELETE ON case_unit WHEN {old} BEGIN\n    {_unit_take(False, 'OLD')};\nEND",
    ]


POSTGRES_FUNCTIONS = ["case_month_insert", "case_month_update", "case_month_delete", "case_month_truncate",
                      "unit_case_month_change", "unit_case_month_case", "unit_case_month_truncate",
                      "unit_month_change", "unit_month_truncate"]
TRIGGERS = {"case_month_insert": "case_record", "case_month_update": "case_record", "case_month_delete": "case_record",
            "unit_case_month_insert": "case_unit", "unit_case_month_delete": "case_unit",
            "unit_case_month_case": "case_record",
            "unit_month_insert": "case_unit", "unit_month_update": "case_unit", "unit_month_delete": "case_unit"}
POSTGRES_ONLY = {"case_month_truncate": "case_record", "unit_case_month_truncate": "case_unit",
                 "unit_month_truncate": "case_unit"}


# ── Existing rows ────────────────────────────────────────────────────────────────────────────────────────────

def _step_after(kind: str) -> str:
    return (f"(SELECT max(e.at) FROM case_event e WHERE e.case_id = case_unit.case_id AND e.unit = case_unit.unit_id "
            f"AND e.kind = '{kind}' AND e.deleted_at IS NULL AND e.at >= case_unit.dispatched_at)")


def _backfill(postgres: bool) -> None:
    # Each unit's latest dispatch and the steps after it, as `unit_clock` reads them (the projection writes them
    # from here on).
    op.execute("UPDATE case_unit SET dispatched_at = (SELECT max(e.at) FROM case_event e WHERE e.case_id = case_unit.case_id "
               "AND e.unit = case_unit.unit_id AND e.kind = 'dispatched' AND e.deleted_at IS NULL)")
    op.execute(f"UPDATE case_unit SET signed_at = {_step_after('signed')}, reported_at = {_step_after('reported')} "
               "WHERE dispatched_at IS NOT NULL")
    op.execute(f"INSERT INTO case_month (node_id, category, month, cases) SELECT node_id, category, "
               f"{_month(postgres, 'case_record', 'created_at')}, count(*) FROM case_record WHERE deleted_at IS NULL GROUP BY 1, 2, 3")
    op.execute(f"INSERT INTO unit_case_month (unit_id, category, month, cases) SELECT u.unit_id, c.category, "
               f"{_month(postgres, 'c', 'created_at')}, count(*) FROM case_unit u JOIN case_record c ON c.id = u.case_id "
               "WHERE c.deleted_at IS NULL GROUP BY 1, 2, 3")
    values = ", ".join(f"sum({v})" for v in _unit_values("case_unit"))
    op.execute(f"INSERT INTO unit_month (unit_id, month, {', '.join(UNIT_COLUMNS)}) SELECT unit_id, "
               f"{_month(postgres, 'case_unit', 'dispatched_at')}, {values} FROM case_unit "
               f"WHERE {COUNTED.format(row='case_unit')} GROUP BY 1, 2")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    moment = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)
    for column in ("dispatched_at", "signed_at", "reported_at"):
        op.add_column('case_unit', sa.Column(column, moment, nullable=True))
    op.create_index('ix_case_unit_open_steps', 'case_unit', ['unit_id', 'dispatched_at'], unique=False,
                    postgresql_where=sa.text(OPEN_STEPS), sqlite_where=sa.text(OPEN_STEPS))
    for table, key in (("case_month", "node_id"), ("unit_case_month", "unit_id")):
        op.create_table(table,
        sa.Column(key, sa.String(length=64), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('cases', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(key, 'category', 'month', name=op.f(f'pk_{table}'))
        )
    op.create_table('unit_month',
    sa.Column('unit_id', sa.String(length=64), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    *(sa.Column(column, sa.Integer(), nullable=False) for column in UNIT_COLUMNS),
    sa.PrimaryKeyConstraint('unit_id', 'month', name=op.f('pk_unit_month'))
    )
    _backfill(postgres)
    for statement in _case_triggers(postgres) + _unit_case_triggers(postgres) + _unit_triggers(postgres):
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table in {**TRIGGERS, **(POSTGRES_ONLY if postgres else {})}.items():
        op.execute(f"DROP TRIGGER {name} ON {table}" if postgres else f"DROP TRIGGER {name}")
    if postgres:
        for name in POSTGRES_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table('unit_month')
    op.drop_table('unit_case_month')
    op.drop_table('case_month')
    op.drop_index('ix_case_unit_open_steps', table_name='case_unit')
    for column in ("reported_at", "signed_at", "dispatched_at"):
        op.drop_column('case_unit', column)
