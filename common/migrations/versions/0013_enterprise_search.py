"""PostgreSQL: the roster's trigram search indexes move from `enterprise` to `enterprise_search` (id, name,
name_pinyin), kept by triggers that write it only when a row is made, renamed or removed. An edit of any other
field (a phone, notes, a risk level: most edits, and every sync merge that carries no name) no longer writes the
two GIN indexes; SQLite's FTS5 table (revision 0002) has always been kept this way.

Revision ID: 0013
Revises: 0012
"""
from __future__ import annotations

from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

UP = [
    "CREATE TABLE enterprise_search (id UUID NOT NULL, name TEXT NOT NULL, name_pinyin TEXT NOT NULL, "
    "CONSTRAINT pk_enterprise_search PRIMARY KEY (id))",
    "INSERT INTO enterprise_search (id, name, name_pinyin) SELECT id, name, name_pinyin FROM enterprise",
    "CREATE INDEX ix_enterprise_search_name_trgm ON enterprise_search USING gin (name gin_trgm_ops)",
    "CREATE INDEX ix_enterprise_search_name_pinyin_trgm ON enterprise_search USING gin (name_pinyin gin_trgm_ops)",
    # Made: one statement for all the rows a statement made (a bulk push makes thousands).
    "CREATE FUNCTION enterprise_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
    "    INSERT INTO enterprise_search (id, name, name_pinyin) SELECT id, name, name_pinyin FROM new_rows;\n"
    "    RETURN NULL;\nEND $$",
    "CREATE TRIGGER enterprise_search_insert AFTER INSERT ON enterprise REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION enterprise_search_insert()",
    # Renamed: fires only for a statement that sets a name, and then only for the rows whose name changed.
    "CREATE FUNCTION enterprise_search_rename() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
    "    UPDATE enterprise_search SET name = NEW.name, name_pinyin = NEW.name_pinyin WHERE id = NEW.id;\n"
    "    RETURN NULL;\nEND $$",
    "CREATE TRIGGER enterprise_search_rename AFTER UPDATE OF name, name_pinyin ON enterprise FOR EACH ROW "
    "WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.name_pinyin IS DISTINCT FROM NEW.name_pinyin) "
    "EXECUTE FUNCTION enterprise_search_rename()",
    "CREATE FUNCTION enterprise_search_delete() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
    "    DELETE FROM enterprise_search AS s USING old_rows AS o WHERE s.id = o.id;\n"
    "    RETURN NULL;\nEND $$",
    "CREATE TRIGGER enterprise_search_delete AFTER DELETE ON enterprise REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION enterprise_search_delete()",
    "CREATE FUNCTION enterprise_search_truncate() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
    "    TRUNCATE enterprise_search;\n    RETURN NULL;\nEND $$",
    "CREATE TRIGGER enterprise_search_truncate AFTER TRUNCATE ON enterprise "
    "FOR EACH STATEMENT EXECUTE FUNCTION enterprise_search_truncate()",
    "DROP INDEX ix_enterprise_name_trgm",
    "DROP INDEX ix_enterprise_name_pinyin_trgm",
]

DOWN = [
    "CREATE INDEX ix_enterprise_name_trgm ON enterprise USING gin (name gin_trgm_ops)",
    "CREATE INDEX ix_enterprise_name_pinyin_trgm ON enterprise USING gin (name_pinyin gin_trgm_ops)",
    *(f"DROP TRIGGER enterprise_search_{when} ON enterprise" for when in ("insert", "rename", "delete", "truncate")),
    *(f"DROP FUNCTION enterprise_search_{when}()" for when in ("insert", "rename", "delete", "truncate")),
    "DROP TABLE enterprise_search",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWN:
            op.execute(statement)
