"""What the checkout writer's shortcuts must keep: a purchase's digest is the bytes every stored
digest was made from, and a bulk insert converts each distinct value (by identity, never by
equality) exactly as converting every value would."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.db.direct import _converted
from backend.db.types import DecimalText
from backend.loyalty.idempotency import request_digest
from backend.loyalty.purchase_input import PurchaseInput, PurchaseLineInput

pytestmark = pytest.mark.sqlite_only

text = st.text(min_size=1, max_size=12)  # any characters: json escapes what is not ASCII


@given(
    order=text,
    customer=text,
    category=st.none() | text,
    price=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**6), places=4),
    quantity=st.integers(1, 1000),
)
def test_a_purchase_digest_hashes_the_bytes_of_request_digest(
    order: str, customer: str, category: str | None, price: Decimal, quantity: int
) -> None:
    line = PurchaseLineInput("SKU-1", quantity, price, category)
    purchase = PurchaseInput(order, customer, "store", "USD", [line, line], paid_with_points=3)
    assert purchase.digest() == request_digest(purchase.canonical())


def test_each_distinct_object_is_converted_once_and_equal_values_each_by_their_own() -> None:
    calls: list[Any] = []
    amount = DecimalText().process_bind_param

    def convert(value: Decimal | None) -> str | None:
        calls.append(value)
        return amount(value, None)  # type: ignore[arg-type]

    now = datetime(2026, 12, 1, tzinfo=UTC)
    zero, minus_zero, twelve = Decimal("0"), Decimal("-0"), Decimal("12.50")
    rows = [("a", now, zero), ("b", now, minus_zero), ("c", now, twelve), ("d", now, twelve), ("e", now, None)]

    converted = _converted(rows, ((2, convert),))

    # -0 equals 0 but is stored as "-0": equal values are never taken for one another.
    assert converted == [(name, now, amount(value, None)) for name, _, value in rows]  # type: ignore[arg-type]
    assert [c for c in calls if c is not None] == [zero, minus_zero, twelve]  # twelve once: one object
    assert converted[1][2] == "-0"


def test_a_column_with_one_object_is_converted_once() -> None:
    calls: list[datetime] = []

    def stamp(value: datetime) -> int:
        calls.append(value)
        return int(value.timestamp())

    now = datetime(2026, 12, 1, tzinfo=UTC)
    converted = _converted([(n, now) for n in range(64)], ((1, stamp),))
    assert converted == [(n, int(now.timestamp())) for n in range(64)]
    assert calls == [now]
