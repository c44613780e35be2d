"""Primary keys for many rows at once, so that bulk inserts can name each other's rows (a purchase
its award, a lot its purchase) without a round trip per row.

- PostgreSQL: ``nextval`` of the column's sequence, as many times as needed, in one query; the
  ids come from the same sequence an ordinary insert uses, so both kinds of insert mix freely.
- SQLite: one more than the highest id, as SQLite itself does for an ``INTEGER PRIMARY KEY``.
  The caller's transaction must be a writer (``BEGIN IMMEDIATE``, see ``engine.writer``): it then
  holds the database's only write lock, so nobody else can take these ids before it commits. (In
  a deferred transaction a concurrent writer makes the insert fail rather than duplicate a key.)

On the checkout's hot path: run on the driver (``backend.db.direct``).
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import Session

from backend.db.direct import dialect_of, fetch, highest


def allocate_ids(session: Session, table: Table, count: int, column: str = "id") -> list[int]:
    """``count`` fresh values of ``table.column`` for rows this transaction will insert."""
    if count <= 0:
        return []
    if dialect_of(session).name == "postgresql":
        rows = fetch(
            session,
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            (table.name, column, count),
        )
        return [int(row[0]) for row in rows]
    first = (highest(session, table, column) or 0) + 1
    return list(range(first, first + count))
