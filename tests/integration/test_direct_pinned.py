"""``backend.db.direct.pinned``: the checkout's plain runs skip the session's checks per statement;
what the ORM added before the block is written first, and after the block each statement asks
the session again (so ORM changes made then are flushed before it)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from backend.db.direct import dialect_of, in_list, list_value, pinned, select_rows
from backend.db.engine import make_engine, session_scope
from backend.db.models import Retailer
from backend.db.schema import table_of


def _retailers(session: Session, ids: list[str]) -> list[tuple[str, ...]]:
    dialect = dialect_of(session)
    where = in_list(dialect, "id")
    return sorted(select_rows(session, table_of(Retailer), ("id",), where, (list_value(dialect, ids),)))


def test_a_pinned_block_sees_the_orm_changes_before_it_and_ends_with_it(database_url: str) -> None:
    engine: Engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            session.add(Retailer(id="pin-before", name="before"))
            with pinned(session):
                assert _retailers(session, ["pin-before"]) == [("pin-before",)]
                with pinned(session):  # nested: the outer block's pin outlives the inner one
                    pass
                assert _retailers(session, ["pin-before"]) == [("pin-before",)]
            session.add(Retailer(id="pin-after", name="after"))
            assert _retailers(session, ["pin-before", "pin-after"]) == [("pin-after",), ("pin-before",)]
        with session_scope(engine) as session:  # committed: a new transaction, a new connection asked for
            assert _retailers(session, ["pin-before", "pin-after"]) == [("pin-after",), ("pin-before",)]
    finally:
        engine.dispose()
