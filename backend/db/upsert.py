"""Dialect-aware upserts (SQLite and PostgreSQL both speak ON CONFLICT). Plain bulk inserts are
``backend.db.direct.bulk_insert``."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from backend.db.direct import dialect_of, execute_rows, ident, marker


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
    """Insert rows; on key conflict add the ``add`` columns and overwrite the ``replace`` ones.

    Plain SQL on the driver (the indexer runs it for every account a block touches): through Core,
    binding each row's values cost more Python than the rest of applying an award."""
    if not rows:
        return
    dialect = dialect_of(session)
    sql = _upsert_add_sql(dialect, table, tuple(rows[0]), tuple(keys), tuple(add), tuple(replace))
    execute_rows(session, sql, table, rows)


@lru_cache(maxsize=64)
def _upsert_add_sql(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    add: tuple[str, ...],
    replace: tuple[str, ...],
) -> str:
    name = ident(dialect, table.name)
    sets = [f"{ident(dialect, c)} = {name}.{ident(dialect, c)} + excluded.{ident(dialect, c)}" for c in add]
    sets += [f"{ident(dialect, c)} = excluded.{ident(dialect, c)}" for c in replace]
    action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    return (
        f"INSERT INTO {name} ({', '.join(ident(dialect, c) for c in columns)})"  # noqa: S608
        f" VALUES ({', '.join([marker(dialect)] * len(columns))})"
        f" ON CONFLICT ({', '.join(ident(dialect, k) for k in keys)}) {action}"
    )


def upsert_replace(session: Session, table: Table, keys: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """Insert rows; on key conflict overwrite every non-key column."""
    if not rows:
        return
    statement = _insert(session, table)
    columns = [name for name in rows[0] if name not in keys]
    updates = {name: statement.excluded[name] for name in columns}
    session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=updates), rows)
