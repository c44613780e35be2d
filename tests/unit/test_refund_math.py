"""Refund arithmetic: never more than awarded, proportional, rounded down, path-independent."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from backend.errors import Unprocessable
from backend.loyalty.refund_math import RefundableLine, RefundState, refund_amount, refund_lines

line = st.builds(
    RefundableLine,
    quantity=st.integers(1, 20),
    unit_price=st.decimals(min_value=Decimal("0.01"), max_value=1000, places=2),
    weight=st.decimals(min_value=0, max_value=5000, places=3),
)
orders = st.lists(line, min_size=1, max_size=6)
awards = st.integers(0, 100_000)


def everything(lines: list[RefundableLine]) -> dict[int, int]:
    return {i: li.quantity for i, li in enumerate(lines)}


@given(orders, awards)
def test_refunding_everything_reverses_exactly_the_award(lines: list[RefundableLine], awarded: int) -> None:
    result = refund_lines(lines, awarded, RefundState.empty(len(lines)), everything(lines))
    assert result.points == awarded
    assert result.state.share == 1


@given(orders, awards, st.data())
def test_partial_refunds_never_reverse_more_than_awarded(
    lines: list[RefundableLine], awarded: int, data: st.DataObject
) -> None:
    state = RefundState.empty(len(lines))
    total = 0
    while True:
        left = [li.quantity - done for li, done in zip(lines, state.refunded_quantities, strict=True)]
        open_lines = [i for i, n in enumerate(left) if n > 0]
        if not open_lines:
            break
        index = data.draw(st.sampled_from(open_lines))
        quantity = data.draw(st.integers(1, left[index]))
        result = refund_lines(lines, awarded, state, {index: quantity})
        assert result.points >= 0
        total += result.points
        assert total <= awarded
        # Proportional: what was taken back is the refunded share of the award, rounded down.
        assert total == math.floor(awarded * result.state.share)
        state = result.state
    assert total == awarded


@given(orders, awards, st.data())
def test_one_refund_or_many_take_back_the_same(lines: list[RefundableLine], awarded: int, data: st.DataObject) -> None:
    parts = {i: data.draw(st.integers(0, li.quantity)) for i, li in enumerate(lines)}
    parts = {i: q for i, q in parts.items() if q}
    assume(parts)
    at_once = refund_lines(lines, awarded, RefundState.empty(len(lines)), parts)
    state, total = RefundState.empty(len(lines)), 0
    for index, quantity in parts.items():
        result = refund_lines(lines, awarded, state, {index: quantity})
        state, total = result.state, total + result.points
    assert total == at_once.points


@given(orders, awards)
def test_a_line_takes_back_points_in_proportion_to_what_it_earned(lines: list[RefundableLine], awarded: int) -> None:
    assume(sum(li.weight for li in lines) > 0)
    result = refund_lines(lines, awarded, RefundState.empty(len(lines)), {0: lines[0].quantity})
    share = Fraction(lines[0].weight) / sum(Fraction(li.weight) for li in lines)
    assert result.points == math.floor(awarded * share)


@given(orders, awards, st.data())
def test_amount_refunds_are_proportional_to_value_and_capped(
    lines: list[RefundableLine], awarded: int, data: st.DataObject
) -> None:
    total = sum((li.unit_price * li.quantity for li in lines), Decimal(0))
    amount = data.draw(st.decimals(min_value=Decimal("0.01"), max_value=total, places=2))
    first = refund_amount(lines, awarded, RefundState.empty(len(lines)), amount)
    assert first.points == math.floor(awarded * Fraction(amount) / Fraction(total))
    rest = total - amount
    if rest > 0:
        last = refund_amount(lines, awarded, first.state, rest)
        assert first.points + last.points == awarded
    with pytest.raises(Unprocessable) as raised:
        refund_amount(lines, awarded, first.state, rest + Decimal("0.01"))
    assert raised.value.field == "amount"


def test_refund_above_what_was_bought_names_the_line() -> None:
    lines = [RefundableLine(2, Decimal(10), Decimal(20))]
    state = refund_lines(lines, 20, RefundState.empty(1), {0: 1}).state
    with pytest.raises(Unprocessable) as raised:
        refund_lines(lines, 20, state, {0: 2})
    assert raised.value.field == "lines[0].quantity"


def test_lines_without_points_weigh_by_value() -> None:
    lines = [RefundableLine(1, Decimal(30), Decimal(0)), RefundableLine(1, Decimal(10), Decimal(0))]
    result = refund_lines(lines, 0, RefundState.empty(2), {0: 1})
    assert (result.points, result.state.share) == (0, Fraction(3, 4))
