from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from backend.loyalty.rules import OrderLine, RuleSet, quote

prices = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)
lines = st.lists(
    st.builds(OrderLine, sku=st.sampled_from(["A", "B", "GIFT"]), quantity=st.integers(1, 50), unit_price=prices),
    min_size=1,
    max_size=20,
)


def test_one_point_per_currency_unit_rounded_down() -> None:
    rules = RuleSet(version=1)
    assert quote([OrderLine("A", 2, Decimal("12.50"))], rules).points == 25
    assert quote([OrderLine("A", 1, Decimal("0.99"))], rules).points == 0


@given(lines)
def test_points_never_exceed_the_eligible_amount_times_the_rate(order: list[OrderLine]) -> None:
    rules = RuleSet(version=1, points_per_unit=Decimal("1.5"), excluded_skus=("GIFT",))
    result = quote(order, rules)
    eligible = sum((li.unit_price * li.quantity for li in order if li.sku != "GIFT"), Decimal(0))
    assert result.eligible_amount == eligible
    assert 0 <= eligible * Decimal("1.5") - result.points < 1


def test_rule_hash_is_canonical_and_version_independent() -> None:
    a = RuleSet(version=1, excluded_skus=("B", "A"))
    b = RuleSet(version=2, excluded_skus=("A", "B"))
    assert a.content_hash() == b.content_hash()
    assert a.content_hash() != RuleSet(version=1, points_per_unit=Decimal(2)).content_hash()
