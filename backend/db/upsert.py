"""Dialect-aware upserts (SQLite and PostgreSQL both speak ON CONFLICT). Plain bulk inserts are
``backend.db.direct.bulk_insert``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


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
