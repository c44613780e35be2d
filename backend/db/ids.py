"""Primary keys for many rows at once, so that bulk inserts can name each other's rows (a purchase
its award, a lot its purchase) without a round trip per row.

- PostgreSQL: ``nextval`` of the column's sequence, as many times as needed, in one query; the
  ids come from the same sequence an ordinary insert uses, so both kinds of insert mix freely.
- SQLite: one more than the highest id, as SQLite itself does for an ``INTEGER PRIMARY KEY``.
  The caller's transaction must be a writer (``BEGIN IMMEDIATE``, see ``engine.writer``): it then
  holds the database's only write lock, so nobody else can take these ids before it commits. (In
  a deferred transaction a concurrent writer makes the insert fail rather than duplicate a key.)
"""

from __future__ import annotations

from sqlalchemy import Table, func, select, text
from sqlmodel import Session


def allocate_ids(session: Session, table: Table, count: int, column: str = "id") -> list[int]:
    """``count`` fresh values of ``table.column`` for rows this transaction will insert."""
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, :column)) FROM generate_series(1, :count)"),
            {"table": table.name, "column": column, "count": count},
        ).all()
        return [int(row[0]) for row in rows]
    highest = session.execute(select(func.max(table.c[column]))).scalar()
    first = int(highest or 0) + 1
    return list(range(first, first + count))
