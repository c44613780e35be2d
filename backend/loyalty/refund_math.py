"""Refund arithmetic: which share of an order is refunded, and how many points that takes back.

Pure and exact (``Fraction``). The refunded share accumulates over an order's refunds:

- a refund of lines adds, for each line, ``refunded quantity / bought quantity`` weighted by the
  points the line earned (a refunded double-points item takes back double), or by its amount
  when the order earned nothing;
- a refund of an amount adds ``amount / order total``.

After each refund the order has given back ``floor(points awarded * refunded share)`` in total,
so every reversal is the difference from what earlier refunds took: never negative, never more
than was awarded, exactly the award once everything is refunded, and the same total whether an
order is refunded in one go or in parts. Rounding down favours the customer by less than a point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from backend.errors import Unprocessable


@dataclass(frozen=True)
class RefundableLine:
    quantity: int
    unit_price: Decimal
    weight: Decimal  # the line's points before rounding (its share of the award)


@dataclass(frozen=True)
class RefundState:
    """What earlier refunds of the order took."""

    refunded_quantities: tuple[int, ...]
    refunded_value: Decimal = Decimal(0)
    share: Fraction = Fraction(0)
    reversed_points: int = 0

    @classmethod
    def empty(cls, line_count: int) -> RefundState:
        return cls(tuple(0 for _ in range(line_count)))


@dataclass(frozen=True)
class RefundResult:
    state: RefundState
    points: int  # to reverse now
    value: Decimal  # refunded value of this refund


def _weights(lines: Sequence[RefundableLine]) -> list[Fraction]:
    by_points = [Fraction(line.weight) for line in lines]
    if sum(by_points) > 0:
        return by_points
    return [Fraction(line.unit_price) * line.quantity for line in lines]


def _reverse(
    awarded: int, state: RefundState, share: Fraction, value: Decimal, quantities: tuple[int, ...]
) -> RefundResult:
    share = min(share, Fraction(1))
    target = math.floor(awarded * share)
    points = max(target - state.reversed_points, 0)
    new_state = RefundState(quantities, state.refunded_value + value, share, state.reversed_points + points)
    return RefundResult(new_state, points, value)


def refund_lines(
    lines: Sequence[RefundableLine], awarded: int, state: RefundState, quantities: Mapping[int, int]
) -> RefundResult:
    """Refund ``quantities`` (line index -> quantity) of an order that earned ``awarded`` points."""
    weights = _weights(lines)
    total_weight = sum(weights)
    refunded = list(state.refunded_quantities)
    added = Fraction(0)
    value = Decimal(0)
    for index, quantity in quantities.items():
        line = lines[index]
        if quantity <= 0:
            raise Unprocessable("refunded quantity must be positive", field=f"lines[{index}].quantity")
        if refunded[index] + quantity > line.quantity:
            left = line.quantity - refunded[index]
            raise Unprocessable(
                f"only {left} of this line are left to refund (bought {line.quantity})",
                field=f"lines[{index}].quantity",
            )
        refunded[index] += quantity
        value += line.unit_price * quantity
        if total_weight > 0:
            added += weights[index] * Fraction(quantity, line.quantity) / total_weight
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    if state.refunded_value + value > total:
        raise Unprocessable(f"refunds would exceed the order total {total}", field="lines")
    return _reverse(awarded, state, state.share + added, value, tuple(refunded))


def refund_amount(lines: Sequence[RefundableLine], awarded: int, state: RefundState, amount: Decimal) -> RefundResult:
    """Refund ``amount`` of money of an order that earned ``awarded`` points."""
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    if amount <= 0:
        raise Unprocessable("refunded amount must be positive", field="amount")
    if state.refunded_value + amount > total:
        left = total - state.refunded_value
        raise Unprocessable(f"only {left} of the order total {total} is left to refund", field="amount")
    added = Fraction(amount) / Fraction(total)
    return _reverse(awarded, state, state.share + added, amount, state.refunded_quantities)
