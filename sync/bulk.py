"""Bulk writes of a batch's rows: one statement per table, not one per row.

On PostgreSQL new rows go by COPY (no SQL text to build or parse per row, and the sync-mark triggers, which run once
per statement, run once per table); merged rows are written with one UPDATE from arrays of their columns.
On SQLite (spokes, the embedded demo) an executemany is already the fast path.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, Table, Uuid, any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


@lru_cache(maxsize=512)  # per table and column set (a batch's columns are the fields its edits carry)
def _by_ids(table: Table, postgres: bool, lock: bool, names: tuple[str, ...]) -> Select[Any]:
    stmt = select(*(table.c[name] for name in names))
    if postgres:
        # One array parameter: the same SQL text whatever the number of ids (cached, planned once per connection).
        stmt = stmt.where(table.c.id == any_(bindparam("ids", type_=ARRAY(Uuid()))))
    else:
        stmt = stmt.where(table.c.id.in_(bindparam("ids", expanding=True)))
    return stmt.with_for_update() if lock else stmt


def rows_by_ids(session: Session, table: Table, ids: list[Any], lock: bool = False,
                columns: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The rows of `table` with these ids (as dicts of `columns`, every one by default), locked for update when
    `lock`. Built from the result's tuples: a mapping view per row costs more than the read."""
    if not ids:
        return []
    postgres = session.get_bind().dialect.name == "postgresql"
    names = tuple(c.name for c in table.columns) if columns is None else columns
    return [dict(zip(names, row))
            for row in session.execute(_by_ids(table, postgres, lock, names), {"ids": list(ids)}).tuples()]


def _bind(table: Table, dialect: Any) -> dict[str, Any]:
    """Each column's conversion to what the driver takes, as SQLAlchemy would apply it."""
    return {c.name: c.type._cached_bind_processor(dialect) for c in table.columns}


def _with_defaults(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """The row with the columns' Python-side defaults filled in (COPY knows only the database's own defaults)."""
    for column in table.columns:
        if column.name in row or column.default is None:
            continue
        default = column.default
        if default.is_scalar:
            row[column.name] = default.arg
        elif default.is_callable:
            row[column.name] = default.arg(None)
    return row


def _names(dialect: Any, names: list[str]) -> str:
    return ", ".join(dialect.identifier_preparer.quote(name) for name in names)


def _copy(session: Session, target: str, columns: list[str], rows: list[dict[str, Any]], convert: dict[str, Any]) -> None:
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {target} ({_names(session.get_bind().dialect, columns)}) FROM STDIN") as copy:
        procs = [(name, convert.get(name)) for name in columns]
        for row in rows:
            copy.write_row([proc(row[name]) if proc is not None else row[name] for name, proc in procs])


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (dicts of column values) into `table` in the session's transaction."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        keys = set(rows[0])
        if all(set(row) == keys for row in rows):
            session.execute(insert(table), rows)
            return
    # Rows that name different columns (a workbook's rows leave different cells empty) go by groups of the same ones.
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        filled = _with_defaults(table, dict(row))
        groups.setdefault(tuple(sorted(filled)), []).append(filled)
    if dialect.name != "postgresql":
        for group in groups.values():
            session.execute(insert(table), group)
        return
    convert = _bind(table, dialect)
    for columns, group in groups.items():
        _copy(session, dialect.identifier_preparer.quote(table.name), list(columns), group, convert)


def _array_type(column: Any, dialect: Any) -> str:
    """The array type a column's values are sent as: its own, but unbounded (an explicit cast to VARCHAR(n) would cut
    an overlong value short, where the column's own assignment refuses it)."""
    return re.sub(r"VARCHAR\(\d+\)", "VARCHAR", column.type.compile(dialect)) + "[]"


def update_rows(session: Session, table: Table, rows: list[dict[str, Any]], names: list[str]) -> None:
    """Write columns `names` of `rows` (each with its "id") over the rows of `table` with those ids."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        _update_sqlite(session, table, rows, tuple(names))
        return
    columns = ["id", *names]
    convert = _bind(table, dialect)
    quote = dialect.identifier_preparer.quote
    # The rows go as one array per column, unnested into a relation joined on the ids: one statement, one round trip.
    # `t.id = ANY(ids)` lets the planner find the rows by their key; a join alone on a relation it cannot estimate
    # reads the whole table (a hash join), which at a hub of a million rows costs more than the batch itself.
    params: dict[str, list[Any]] = {}
    arrays = []
    for k, name in enumerate(columns):
        proc = convert.get(name)
        params[f"c{k}"] = [proc(row[name]) if proc is not None else row[name] for row in rows]
        # Binary (%b): psycopg's text form of an array escapes every element with a regular expression, 4x slower.
        arrays.append(f"CAST(%(c{k})b AS {_array_type(table.c[name], dialect)})")
    assignments = ", ".join(f"{quote(n)} = m.{quote(n)}" for n in names)
    connection = session.connection()
    connection.exec_driver_sql(
        f"UPDATE {quote(table.name)} AS t SET {assignments} "
        f"FROM unnest({', '.join(arrays)}) AS m({_names(dialect, columns)}) "
        f"WHERE t.id = m.id AND t.id = ANY(%(c0)b)", params)


def _update_clause(table: Table, names: tuple[str, ...]) -> Any:
    """UPDATE table SET names… WHERE id, its parameters named _0 (the id), _1… (the values in order)."""
    return (update(table).where(table.c.id == bindparam("_0"))
            .values({name: bindparam(f"_{k + 1}") for k, name in enumerate(names)}))


@lru_cache(maxsize=512)  # per table and column set: a spoke's batches and pages write a few such sets
def _sqlite_update(table: Table, names: tuple[str, ...], dialect: Any) -> tuple[str, tuple[str, ...], tuple[Any, ...]] | None:
    """_update_clause compiled once for SQLite's positional parameters: its text, the column each parameter takes
    its value from, and that value's conversion to what the driver takes (as SQLAlchemy would apply it). None when a
    column's on-update default joins in (SQLAlchemy binds that one)."""
    compiled = _update_clause(table, names).compile(dialect=dialect)
    if compiled.positiontup is None or not all(key[1:].isdigit() for key in compiled.positiontup):
        return None
    columns = ("id", *names)
    order = tuple(columns[int(key[1:])] for key in compiled.positiontup)
    convert = _bind(table, dialect)
    return str(compiled), order, tuple(convert.get(name) for name in order)


def _update_sqlite(session: Session, table: Table, rows: list[dict[str, Any]], names: tuple[str, ...]) -> None:
    """Columns `names` of `rows` written by one statement compiled once per table and columns (a push's stamps, a
    pulled page's changed rows at a spoke: thousands of rows, no SQL built or bound per row by SQLAlchemy)."""
    connection = session.connection()
    prepared = _sqlite_update(table, names, connection.dialect)
    if prepared is None:
        connection.execute(_update_clause(table, names),
                           [{"_0": r["id"], **{f"_{k + 1}": r[n] for k, n in enumerate(names)}} for r in rows])
        return
    sql, order, converters = prepared
    pairs = tuple(zip(order, converters))
    connection.exec_driver_sql(sql, [tuple(convert(row[name]) if convert else row[name] for name, convert in pairs)
                                     for row in rows])
