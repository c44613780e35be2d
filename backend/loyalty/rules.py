"""Earning rules: plain data, a canonical content hash, and the points an order earns.

Rounding is explicit: points are computed exactly in decimals and rounded down once per order
(a customer never gets a fraction, and never more than the published rules give).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import ROUND_FLOOR, Decimal

from eth_utils import keccak


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: Decimal
    category: str | None = None


@dataclass(frozen=True)
class RuleSet:
    """A version of the earning rules. Its content hash is published on chain."""

    version: int
    points_per_unit: Decimal = Decimal(1)
    excluded_skus: tuple[str, ...] = field(default_factory=tuple)

    def canonical(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("version")
        data["points_per_unit"] = format(self.points_per_unit.normalize(), "f")
        data["excluded_skus"] = sorted(self.excluded_skus)
        return data

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))

    def content_hash(self) -> str:
        return "0x" + keccak(text=self.canonical_json()).hex()


@dataclass(frozen=True)
class PointsQuote:
    points: int
    eligible_amount: Decimal
    line_points: tuple[Decimal, ...]


def order_total(lines: list[OrderLine]) -> Decimal:
    return sum((line.unit_price * line.quantity for line in lines), Decimal(0))


def quote(lines: list[OrderLine], rules: RuleSet) -> PointsQuote:
    """Points earned by an order under ``rules``."""
    line_points = []
    eligible = Decimal(0)
    for line in lines:
        amount = Decimal(0) if line.sku in rules.excluded_skus else line.unit_price * line.quantity
        eligible += amount
        line_points.append(amount * rules.points_per_unit)
    total = sum(line_points, Decimal(0)).to_integral_value(rounding=ROUND_FLOOR)
    return PointsQuote(int(total), eligible, tuple(line_points))
