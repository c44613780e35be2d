"""Statements run straight on the database driver, for the checkout's hot path.

Building and executing a SQLAlchemy Core statement costs about 0.2 ms of Python; the group-commit
writer runs a dozen per batch while it holds SQLite's write lock, which every process waits for.
Here the SQL is a few fixed strings per table and dialect, and values pass through the columns' own
type processors (``UTCDateTime``, ``DecimalText``…), so what is read and written is exactly what
Core would read and write.

A list of values is one parameter, whatever its length (one statement text, no expansion):
SQLite reads it as a JSON array (``IN (SELECT value FROM json_each(?))``), PostgreSQL as an array
(``= ANY(%s)``).

SQL text is assembled only here, from identifiers of our own table metadata (quoted by the dialect)
and condition fragments written in code; every value is a parameter (hence the ``S608`` waivers).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from sqlalchemy import Dialect, Table
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

Processor = Callable[[Any], Any] | None
Converter = Callable[[Any], Any]

# A key or constraint refused a write: SQLAlchemy's error, or the driver's own for statements run
# here (they never pass through SQLAlchemy, which would wrap it).
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)
# Whatever a database call of ours may raise: SQLAlchemy's errors and the drivers' own, which the
# raw cursors of this module raise unwrapped (a COPY that meets another writer's unique key).
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, sqlite3.Error, psycopg.Error)


def dialect_of(session: Session) -> Dialect:
    # The session's own engine when it has one (every session of ours): ``get_bind`` resolves
    # mappers and binds on each call, and the checkout's writer asks a few dozen times a batch.
    engine = session.bind
    return engine.dialect if engine is not None else session.get_bind().dialect


_DRIVER = "credance.direct.driver"  # session.info: (root transaction, its DB-API connection)


def _driver(session: Session) -> Any:
    """The DB-API connection of the session's transaction (begun if it was not), after the
    session's pending ORM changes (which the driver does not know of) are written.

    Remembered for the session's root transaction: ``Session.connection()`` runs the ORM's state
    machinery (a few hundred opcodes) for every statement, and a root transaction keeps one
    connection until it ends (savepoints included). A transaction that is over or no longer
    active is asked again, so its errors ("rolled back…") still surface."""
    pinned_driver = session.info.get(_PINNED)
    if pinned_driver is not None:
        return pinned_driver
    session.flush()
    root = session.get_transaction()
    known = session.info.get(_DRIVER)
    if known is not None and root is not None and known[0] is root and root.is_active:
        return known[1]
    driver = session.connection().connection.driver_connection
    session.info[_DRIVER] = (session.get_transaction(), driver)
    return driver


_PINNED = "credance.direct.pinned"  # session.info: the DB-API connection ``pinned`` holds


@contextmanager
def pinned(session: Session) -> Iterator[None]:
    """Inside the block, this module's statements run on the connection of the session's
    transaction as it is at the start, without the session's flush and transaction checks for
    each statement (about sixty opcodes each, a dozen statements a checkout batch). For blocks
    that change nothing through the ORM (which would need a flush before each raw statement)."""
    before = session.info.get(_PINNED)
    session.info[_PINNED] = _driver(session)
    try:
        yield
    finally:
        session.info[_PINNED] = before


def _is_postgres(dialect: Dialect) -> bool:
    return dialect.name == "postgresql"


def marker(dialect: Dialect) -> str:
    """The driver's parameter placeholder."""
    return "%s" if _is_postgres(dialect) else "?"


@lru_cache(maxsize=4096)
def ident(dialect: Dialect, name: str) -> str:
    """``name`` quoted for ``dialect``. Cached: the checkout's bulk statements name some forty
    columns a batch, and the dialect's quoting was a tenth of the writer's Python work."""
    return str(dialect.identifier_preparer.quote(name))


@lru_cache(maxsize=256)
def in_list(dialect: Dialect, column: str) -> str:
    """``column`` is one of a list given as a single parameter (see ``list_value``)."""
    if _is_postgres(dialect):
        return f"{ident(dialect, column)} = ANY(%s)"
    return f"{ident(dialect, column)} IN (SELECT value FROM json_each(?))"  # noqa: S608


def list_value(dialect: Dialect, values: Iterable[Any]) -> Any:
    """The parameter for an ``in_list`` condition (plain strings or integers)."""
    return list(values) if _is_postgres(dialect) else orjson.dumps(list(values)).decode()


@lru_cache(maxsize=256)
def _bind_processors(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[Processor, ...]:
    return tuple(table.c[name].type.bind_processor(dialect) for name in columns)


@lru_cache(maxsize=256)
def _result_processors(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[Processor, ...]:
    return tuple(table.c[name].type.result_processor(dialect, None) for name in columns)


def bind(dialect: Dialect, table: Table, column: str, value: Any) -> Any:
    """``value`` as the driver must receive it for ``table.column``."""
    (convert,) = _bind_processors(dialect, table, (column,))
    return value if convert is None else convert(value)


def fetch(
    session: Session,
    sql: str,
    params: Sequence[Any],
    table: Table | None = None,
    columns: Sequence[str] = (),
    dialect: Dialect | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of ``sql``; the values of ``columns`` (the leading ones of each row, of ``table``)
    converted as Core would (e.g. a ``UTCDateTime`` back to a datetime). ``dialect``: the
    session's, if the caller has it at hand."""
    cursor = _driver(session).cursor()
    try:
        cursor.execute(sql, tuple(params))
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    finally:
        cursor.close()
    if table is None or not columns:
        return rows  # both drivers' rows are tuples already
    processors = _result_processors(dialect or dialect_of(session), table, tuple(columns))
    if all(convert is None for convert in processors):
        return rows
    width = len(processors)
    return [
        tuple(value if i >= width or processors[i] is None else processors[i](value) for i, value in enumerate(row))  # type: ignore[misc]
        for row in rows
    ]


def execute(session: Session, sql: str, params: Sequence[Any]) -> int:
    """Run one statement (values already in the driver's form, see ``bind``); return the rows it
    changed."""
    cursor = _driver(session).cursor()
    try:
        cursor.execute(sql, tuple(params))
        return int(cursor.rowcount)
    finally:
        cursor.close()


def select_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    where: str,
    params: Sequence[Any],
    tail: str = "",
    aggregates: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """``SELECT columns, aggregates FROM table [WHERE where] tail``: the columns' values converted
    as Core would convert them, the aggregates' as the driver gives them."""
    dialect = dialect_of(session)
    sql = _select_sql(dialect, table, tuple(columns), where, tail, tuple(aggregates))
    return fetch(session, sql, params, table, columns, dialect)


@lru_cache(maxsize=512)
def _select_sql(
    dialect: Dialect, table: Table, columns: tuple[str, ...], where: str, tail: str, aggregates: tuple[str, ...]
) -> str:
    """A statement's text, built once (the checkout's writer runs the same dozen every batch)."""
    names = ", ".join([*(ident(dialect, name) for name in columns), *aggregates])
    condition = f"WHERE {where}" if where else ""
    return f"SELECT {names} FROM {ident(dialect, table.name)} {condition} {tail}"  # noqa: S608


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction, as fast as the database allows.

    On PostgreSQL ``COPY … FROM STDIN`` (psycopg's executemany would send a statement per row:
    ~10x slower); on SQLite one ``executemany``. A duplicate key fails the transaction, as an
    ``INSERT`` would. Every row must have the keys of the first.
    """
    if not rows:
        return
    columns, values = _bound_rows(dialect_of(session), table, rows)
    bulk_insert_stored(session, table, columns, values)


def _bound_rows(
    dialect: Dialect, table: Table, rows: list[dict[str, Any]]
) -> tuple[tuple[str, ...], Sequence[Sequence[Any]]]:
    """The rows' columns (the first row's keys) and values in the driver's form. The values of
    each row are read in C (itemgetter), then only the columns with a converter (times, amounts)
    converted: the checkout's rows have ~50 columns a purchase, most passed through as they are."""
    columns = tuple(rows[0])
    take = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    values: list[Sequence[Any]] = list(map(take, rows))
    converters = _converters(dialect, table, columns)
    return columns, (_converted(values, converters) if converters else values)


@lru_cache(maxsize=256)
def _converters(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[tuple[int, Converter], ...]:
    """The positions of the columns with a converter, and their converters."""
    processors = _bind_processors(dialect, table, columns)
    return tuple((i, convert) for i, convert in enumerate(processors) if convert is not None)


def _converted(rows: list[Sequence[Any]], converters: tuple[tuple[int, Converter], ...]) -> list[tuple[Any, ...]]:
    """The rows with the converters applied at their positions, column by column.

    A batch's rows share many values (the batch's time in every row, a price): each distinct
    object of a column (by identity, never by equality: equal values may be stored differently)
    is converted once, and the columns are split and joined in C."""
    table = list(zip(*rows, strict=True))
    for i, convert in converters:
        column = table[i]
        distinct = dict(zip(map(id, column), column, strict=True))
        if len(distinct) == 1:  # e.g. the batch's time
            table[i] = (convert(column[0]),) * len(column)
            continue
        done = {key: convert(value) for key, value in distinct.items()}
        table[i] = tuple(map(done.__getitem__, map(id, column)))
    return list(zip(*table, strict=True))


def execute_rows(session: Session, sql: str, table: Table, rows: list[dict[str, Any]]) -> None:
    """Run ``sql`` once per row (one ``executemany``): the rows' values, in the order of the first
    row's keys, converted by their columns' types as Core would."""
    if not rows:
        return
    _, values = _bound_rows(dialect_of(session), table, rows)
    cursor = _driver(session).cursor()
    try:
        cursor.executemany(sql, values)
    finally:
        cursor.close()


def bulk_insert_stored(session: Session, table: Table, columns: Sequence[str], values: Iterable[Sequence[Any]]) -> None:
    """``bulk_insert`` of rows given as tuples of ``columns`` already in the driver's form (each
    value as ``bind`` gives it): no conversion per value, for callers that convert each distinct
    value once (a day, an amount) over hundreds of thousands of rows."""
    dialect = dialect_of(session)
    sql = _insert_sql(dialect, table, tuple(columns))
    driver = _driver(session)
    if _is_postgres(dialect):
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row_values in values:
                copy.write_row(row_values)
        return
    cursor = driver.cursor()
    try:
        cursor.executemany(sql, values)
    finally:
        cursor.close()


@lru_cache(maxsize=256)
def _insert_sql(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> str:
    """``bulk_insert_stored``'s statement, built once per table and columns."""
    quoted = ", ".join(ident(dialect, name) for name in columns)
    if _is_postgres(dialect):
        return f"COPY {ident(dialect, table.name)} ({quoted}) FROM STDIN"
    placeholders = ", ".join("?" * len(columns))
    return f"INSERT INTO {ident(dialect, table.name)} ({quoted}) VALUES ({placeholders})"  # noqa: S608


def highest(session: Session, table: Table, column: str = "id") -> int | None:
    """The highest value of an integer column (None for an empty table)."""
    dialect = dialect_of(session)
    ((value,),) = select_rows(session, table, (), "", (), aggregates=(f"max({ident(dialect, column)})",))
    return None if value is None else int(value)
