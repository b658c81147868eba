"""Roster search accelerators: an FTS5 trigram index on SQLite, pg_trgm GIN indexes on PostgreSQL.

Substring search over names, pinyin and credit codes would otherwise read every row. These
structures are dialect-specific, so the models do not declare them; env.py keeps them out of
autogenerate's comparison.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_UP = [
    # External content: the index holds only the trigrams; the text stays in the enterprise table.
    "CREATE VIRTUAL TABLE enterprise_fts USING fts5(name, name_pinyin, credit_code, content='enterprise', "
    "content_rowid='rowid', tokenize='trigram')",
    "CREATE TRIGGER enterprise_fts_ai AFTER INSERT ON enterprise BEGIN "
    "INSERT INTO enterprise_fts(rowid, name, name_pinyin, credit_code) VALUES (new.rowid, new.name, new.name_pinyin, new.credit_code); END",
    "CREATE TRIGGER enterprise_fts_ad AFTER DELETE ON enterprise BEGIN "
    "INSERT INTO enterprise_fts(enterprise_fts, rowid, name, name_pinyin, credit_code) "
    "VALUES ('delete', old.rowid, old.name, old.name_pinyin, old.credit_code); END",
    "CREATE TRIGGER enterprise_fts_au AFTER UPDATE OF name, name_pinyin, credit_code ON enterprise BEGIN "
    "INSERT INTO enterprise_fts(enterprise_fts, rowid, name, name_pinyin, credit_code) "
    "VALUES ('delete', old.rowid, old.name, old.name_pinyin, old.credit_code); "
    "INSERT INTO enterprise_fts(rowid, name, name_pinyin, credit_code) VALUES (new.rowid, new.name, new.name_pinyin, new.credit_code); END",
    "INSERT INTO enterprise_fts(enterprise_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS enterprise_fts_au",
    "DROP TRIGGER IF EXISTS enterprise_fts_ad",
    "DROP TRIGGER IF EXISTS enterprise_fts_ai",
    "DROP TABLE IF EXISTS enterprise_fts",
]
POSTGRESQL_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_enterprise_name_trgm ON enterprise USING gin (name gin_trgm_ops)",
    "CREATE INDEX ix_enterprise_name_pinyin_trgm ON enterprise USING gin (name_pinyin gin_trgm_ops)",
]
POSTGRESQL_DOWN = [
    "DROP INDEX IF EXISTS ix_enterprise_name_pinyin_trgm",
    "DROP INDEX IF EXISTS ix_enterprise_name_trgm",
]


def _run(statements: dict[str, list[str]]) -> None:
    for statement in statements.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def upgrade() -> None:
    _run({"sqlite": SQLITE_UP, "postgresql": POSTGRESQL_UP})


def downgrade() -> None:
    _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRESQL_DOWN})
