"""What a checkout sends: an order, recorded once per (store, order id) (an idempotent command, see
``idempotency``). Shared by the assessment and both write paths (``purchases``, ``purchase_batch``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backend.loyalty.idempotency import IdempotentCommand

# ``json.dumps(..., sort_keys=True)`` builds an encoder per call; this one is made once and
# writes the same bytes (``request_digest``'s), which the stored digests depend on.
_SORTED_JSON = json.JSONEncoder(sort_keys=True)


@dataclass(frozen=True)
class PurchaseLineInput:
    sku: str
    quantity: int
    unit_price: Decimal
    category: str | None = None
    gtin: str | None = None
    serial: str | None = None


@dataclass(frozen=True)
class PurchaseInput(IdempotentCommand):
    noun = "order"
    id_field = "order_id"

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

    def canonical(self) -> Any:
        """The order without the till's consent; prices in one notation (12.5 and 12.50 are one price)."""
        return {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "store_id": self.store_id,
            "currency": self.currency,
            "paid_with_points": self.paid_with_points,
            "lines": [{**line.__dict__, "unit_price": format(line.unit_price.normalize(), "f")} for line in self.lines],
        }

    def digest(self) -> str:
        """``IdempotentCommand.digest`` (the same bytes hashed), for every purchase of the checkout."""
        return hashlib.sha256(_SORTED_JSON.encode(self.canonical()).encode()).hexdigest()

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
