"""Two-character roster searches on SQLite: index values with a trailing space, and expose the vocabulary.

A trigram index cannot look up a two-character term directly, but every occurrence of one is the start of
some trigram once each value ends with a space; `enterprise_fts_vocab` lists those trigrams by prefix, and
the search matches any of them. PostgreSQL is unchanged.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = "name, name_pinyin, credit_code"


def _triggers(source: str) -> list[str]:
    """Triggers that keep the external-content index in step with the enterprise table."""
    new = ", ".join(f"new.{c}{source}" for c in _COLUMNS.split(", "))
    old = ", ".join(f"old.{c}{source}" for c in _COLUMNS.split(", "))
    return [
        f"CREATE TRIGGER enterprise_fts_ai AFTER INSERT ON enterprise BEGIN "
        f"INSERT INTO enterprise_fts(rowid, {_COLUMNS}) VALUES (new.rowid, {new}); END",
        f"CREATE TRIGGER enterprise_fts_ad AFTER DELETE ON enterprise BEGIN "
        f"INSERT INTO enterprise_fts(enterprise_fts, rowid, {_COLUMNS}) VALUES ('delete', old.rowid, {old}); END",
        f"CREATE TRIGGER enterprise_fts_au AFTER UPDATE OF {_COLUMNS} ON enterprise BEGIN "
        f"INSERT INTO enterprise_fts(enterprise_fts, rowid, {_COLUMNS}) VALUES ('delete', old.rowid, {old}); "
        f"INSERT INTO enterprise_fts(rowid, {_COLUMNS}) VALUES (new.rowid, {new}); END",
    ]


_DROP = [
    "DROP TABLE IF EXISTS enterprise_fts_vocab",
    "DROP TRIGGER IF EXISTS enterprise_fts_au",
    "DROP TRIGGER IF EXISTS enterprise_fts_ad",
    "DROP TRIGGER IF EXISTS enterprise_fts_ai",
    "DROP TABLE IF EXISTS enterprise_fts",
    "DROP VIEW IF EXISTS enterprise_fts_source",
]

UP = [
    *_DROP,
    "CREATE VIEW enterprise_fts_source AS SELECT rowid AS rid, name || ' ' AS name, "
    "name_pinyin || ' ' AS name_pinyin, credit_code || ' ' AS credit_code FROM enterprise",
    f"CREATE VIRTUAL TABLE enterprise_fts USING fts5({_COLUMNS}, content='enterprise_fts_source', "
    "content_rowid='rid', tokenize='trigram')",
    *_triggers(" || ' '"),
    "CREATE VIRTUAL TABLE enterprise_fts_vocab USING fts5vocab('enterprise_fts', 'row')",
    "INSERT INTO enterprise_fts(enterprise_fts) VALUES ('rebuild')",
]

DOWN = [
    *_DROP,
    f"CREATE VIRTUAL TABLE enterprise_fts USING fts5({_COLUMNS}, content='enterprise', content_rowid='rowid', "
    "tokenize='trigram')",
    *_triggers(""),
    "INSERT INTO enterprise_fts(enterprise_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in DOWN:
            op.execute(statement)
