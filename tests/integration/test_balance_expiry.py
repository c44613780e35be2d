"""The balance read's next expiry (``loyalty/reads.BALANCE_SQL``): the earliest expiry among the
member's open lots and the points that expire then, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from backend.db.engine import session_scope
from backend.db.models import PointLot
from backend.db.readpool import ReadConnection
from backend.loyalty.customers import enrol
from backend.loyalty.reads import read_balance


def test_next_expiry_is_the_earliest_open_lot_and_the_points_expiring_with_it(engine: Engine) -> None:
    soon = datetime(2027, 1, 1, tzinfo=UTC)
    later = soon + timedelta(days=30)
    earned = soon - timedelta(days=300)
    with session_scope(engine) as session:
        customer, _ = enrol(session, "expiry-member")
        lots = [
            (soon, 40, 40),  # two open lots expire first: 40 + 15
            (soon, 20, 15),
            (soon - timedelta(days=1), 30, 0),  # spent: it expires with nothing left
            (later, 70, 70),
            (None, 5, 5),  # never expires
        ]
        session.add_all(
            PointLot(
                customer_id=customer.id,
                source="purchase",
                earned_at=earned,
                expires_at=expires,
                amount=amount,
                remaining=left,
            )
            for expires, amount, left in lots
        )
        other, _ = enrol(session, "another-member")  # expires sooner, but is not this member's
        session.add(
            PointLot(
                customer_id=other.id, source="purchase", earned_at=earned, expires_at=earned, amount=9, remaining=9
            )
        )
    conn = ReadConnection(engine.url.render_as_string(hide_password=False))
    try:
        row = read_balance(conn, "expiry-member", earned - timedelta(days=1))
    finally:
        conn.close()
    assert row is not None
    assert (row.next_expiry_at, row.next_expiry_points) == (soon, 55)
