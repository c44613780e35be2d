"""What a checkout sends, what it gets back, and how a replay is told from a conflicting reuse of an
order id. Shared by the per-purchase and the batch write paths (``purchases``, ``purchase_batch``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backend.errors import Conflict


@dataclass(frozen=True)
class PurchaseLineInput:
    sku: str
    quantity: int
    unit_price: Decimal
    category: str | None = None
    gtin: str | None = None
    serial: str | None = None


@dataclass(frozen=True)
class PurchaseInput:
    order_id: str
    customer_id: str
    store_id: str
    currency: str
    lines: list[PurchaseLineInput]
    paid_with_points: int = 0
    # The customer's consent to pay with points at a till (their one-time code) and the till's
    # key: not part of the order (a retry with the same order is a replay, whatever the code).
    till_code: str | None = None
    till_key: str = ""

    def digest(self) -> str:
        """Canonical digest of the request, to tell a replay from a conflicting reuse of an id.

        Stored with every purchase: the bytes hashed must never change, or replays of purchases
        recorded earlier would become conflicts."""
        canonical = {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "store_id": self.store_id,
            "currency": self.currency,
            "paid_with_points": self.paid_with_points,
            "lines": [{**line.__dict__, "unit_price": format(line.unit_price.normalize(), "f")} for line in self.lines],
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()

    @property
    def key(self) -> tuple[str, str]:
        """What makes an order unique: (store, order id)."""
        return self.store_id, self.order_id

    @property
    def is_plain(self) -> bool:
        """Nothing paid with points and no serialized item: the batch path records it (the others
        take the per-purchase path, which burns points and hands items to provenance)."""
        return (
            self.paid_with_points == 0
            and self.till_code is None
            and not any(line.gtin and line.serial for line in self.lines)
        )


@dataclass(frozen=True)
class PurchaseOutcome:
    body: dict[str, Any]
    replayed: bool


def reused(order_id: str) -> Conflict:
    return Conflict(f"order {order_id!r} was already recorded with different content", field="order_id")


def replay(order_id: str, stored_hash: str, stored_response: str, digest: str) -> PurchaseOutcome:
    """The first answer again, if the request is the same; a 409 if the id was reused."""
    if stored_hash != digest:
        raise reused(order_id)
    return PurchaseOutcome(json.loads(stored_response), replayed=True)
