"""Dialect-aware bulk writes: upserts (SQLite and PostgreSQL both speak ON CONFLICT) and plain
bulk inserts (PostgreSQL ``COPY``, SQLite ``executemany``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from backend.db.direct import insert_rows


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def upsert_add(
    session: Session,
    table: Table,
    keys: Sequence[str],
    rows: list[dict[str, Any]],
    add: Sequence[str],
    replace: Sequence[str] = (),
) -> None:
    """Insert rows; on key conflict add the ``add`` columns and overwrite the ``replace`` ones."""
    if not rows:
        return
    statement = _insert(session, table)
    updates = {name: table.c[name] + statement.excluded[name] for name in add}
    updates.update({name: statement.excluded[name] for name in replace})
    session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=updates), rows)


def upsert_replace(session: Session, table: Table, keys: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """Insert rows; on key conflict overwrite every non-key column."""
    if not rows:
        return
    statement = _insert(session, table)
    columns = [name for name in rows[0] if name not in keys]
    updates = {name: statement.excluded[name] for name in columns}
    session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=updates), rows)


def insert_ignore(session: Session, table: Table, keys: Sequence[str], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    statement = _insert(session, table).on_conflict_do_nothing(index_elements=list(keys))
    session.execute(statement, rows)


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction (``COPY`` on PostgreSQL, one ``executemany``
    on SQLite: see ``direct.insert_rows``). Every row must have the keys of the first."""
    insert_rows(session, table, rows)
