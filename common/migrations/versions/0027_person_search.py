"""PostgreSQL: a trigram index for searching people by name, on `person_search` (id, name) beside `person`, kept by
triggers that write it only when a person is made, renamed or removed, as `enterprise_search` is for the roster
(revision 0013). A search of three characters or more (a whole name, 张建国) then reads the index instead of every
person: at 500,000 people that is a millisecond, not a scan of the table.

Revision ID: 0027
Revises: 0026
"""
from __future__ import annotations

from alembic import op


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

UP = [
    "CREATE TABLE person_search (id UUID NOT NULL, name TEXT NOT NULL, CONSTRAINT pk_person_search PRIMARY KEY (id))",
    "INSERT INTO person_search (id, name) SELECT id, name FROM person",
    "CREATE INDEX ix_person_search_name_trgm ON person_search USING gin (name gin_trgm_ops)",
    "CREATE FUNCTION person_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
    "    INSERT INTO person_search (id, name) SELECT id, name FROM new_rows;\n"
    "    RETURN NULL;\nEND $$",
    "CREATE TRIGGER person_search_insert AFTER INSERT ON person REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION person_search_insert()",
    "CREATE FUNCTION person_search_rename() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
    "    UPDATE person_search SET name = NEW.name WHERE id = NEW.id;\n"
    "    RETURN NULL;\nEND $$",
    "CREATE TRIGGER person_search_rename AFTER UPDATE OF name ON person FOR EACH ROW "
    "WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION person_search_rename()",
    "CREATE FUNCTION person_search_delete() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
    "    DELETE FROM person_search AS s USING old_rows AS o WHERE s.id = o.id;\n"
    "    RETURN NULL;\nEND $$",
    "CREATE TRIGGER person_search_delete AFTER DELETE ON person REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION person_search_delete()",
    "CREATE FUNCTION person_search_truncate() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
    "    TRUNCATE person_search;\n    RETURN NULL;\nEND $$",
    "CREATE TRIGGER person_search_truncate AFTER TRUNCATE ON person "
    "FOR EACH STATEMENT EXECUTE FUNCTION person_search_truncate()",
]

DOWN = [
    *(f"DROP TRIGGER person_search_{when} ON person" for when in ("insert", "rename", "delete", "truncate")),
    *(f"DROP FUNCTION person_search_{when}()" for when in ("insert", "rename", "delete", "truncate")),
    "DROP TABLE person_search",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWN:
            op.execute(statement)
