"""Purchases: points computed by the published rules, the award queued in the outbox in the same
SQL transaction, and exactly-once by (store, order id)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_utils import keccak
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.db.models import Operation, OperationStatus, Purchase, PurchaseLine, Store
from backend.errors import Conflict, NotFound, Unprocessable
from backend.loyalty.customers import enrol
from backend.loyalty.program import current_rule_record, rule_set_from_record
from backend.loyalty.rules import OrderLine, order_total, quote
from backend.provenance.sales import record_sales


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

    def digest(self) -> str:
        """Canonical digest of the request, to tell a replay from a conflicting reuse of an id."""
        canonical = {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "store_id": self.store_id,
            "currency": self.currency,
            "paid_with_points": self.paid_with_points,
            "lines": [{**line.__dict__, "unit_price": format(line.unit_price.normalize(), "f")} for line in self.lines],
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class PurchaseOutcome:
    body: dict[str, Any]
    replayed: bool


def order_ref(store_id: str, order_id: str) -> str:
    """The order's reference on chain: a hash, so no order data is published."""
    return "0x" + keccak(text=f"credance:order:{store_id}:{order_id}").hex()


def find_purchase(session: Session, store_id: str, order_id: str) -> Purchase | None:
    return session.exec(select(Purchase).where(Purchase.store_id == store_id, Purchase.order_id == order_id)).first()


def _replay(existing: Purchase, digest: str) -> PurchaseOutcome:
    if existing.request_hash != digest:
        raise Conflict(f"order {existing.order_id!r} was already recorded with different content", field="order_id")
    return PurchaseOutcome(json.loads(existing.response), replayed=True)


def record_purchase(session: Session, request: PurchaseInput) -> PurchaseOutcome:
    """Record a purchase and queue its award; a replay returns the first answer."""
    digest = request.digest()
    existing = find_purchase(session, request.store_id, request.order_id)
    if existing is not None:
        return _replay(existing, digest)

    store = session.get(Store, request.store_id)
    if store is None:
        raise NotFound(f"store {request.store_id!r} does not exist", field="store_id")
    if request.currency != store.currency:
        raise Unprocessable(f"store {store.id!r} sells in {store.currency}, not {request.currency}", field="currency")
    record = current_rule_record(session)
    if record is None:
        raise Conflict("the program has no earning rules yet", field="store_id")
    rules = rule_set_from_record(record)

    lines = [OrderLine(li.sku, li.quantity, li.unit_price, li.category) for li in request.lines]
    total = order_total(lines)
    if request.paid_with_points > total:
        raise Unprocessable("paid_with_points exceeds the order total", field="paid_with_points")
    points = quote(lines, rules).points
    # Provenance (issue 4): serialized lines mark their items sold; genuine ones may earn a bonus.
    points += record_sales(session, store.id, order_ref(store.id, request.order_id), request.lines).bonus_points
    customer, _ = enrol(session, request.customer_id)

    operation = None
    if points > 0:
        operation = Operation(
            kind="award",
            signer="issuer",
            account=customer.address,
            amount=points,
            ref=order_ref(store.id, request.order_id),
            rule_version=rules.version,
            depends_on=record.operation_id,
        )
        session.add(operation)
        session.flush()
    body = {
        "order_id": request.order_id,
        "store_id": store.id,
        "customer_id": request.customer_id,
        "points_awarded": points,
        "rule_version": rules.version,
        "status": "pending" if points > 0 else "confirmed",
        "operation_id": operation.id if operation else None,
    }
    purchase = Purchase(
        store_id=store.id,
        order_id=request.order_id,
        customer_id=customer.id,  # type: ignore[arg-type]
        currency=request.currency,
        total=total,
        points_awarded=points,
        rule_version=rules.version,
        operation_id=operation.id if operation else None,
        request_hash=digest,
        response=json.dumps(body),
    )
    try:
        with session.begin_nested():
            session.add(purchase)
            session.flush()
    except IntegrityError:
        # Same order recorded concurrently: the first one wins; this one is a replay or a conflict.
        session.rollback()
        existing = find_purchase(session, request.store_id, request.order_id)
        if existing is None:
            raise
        return _replay(existing, digest)
    for number, line in enumerate(request.lines):
        session.add(PurchaseLine(
            purchase_id=purchase.id, line_no=number, sku=line.sku, quantity=line.quantity,  # type: ignore[arg-type]
            unit_price=line.unit_price, category=line.category, gtin=line.gtin, serial=line.serial,
        ))  # fmt: skip
    return PurchaseOutcome(body, replayed=False)


def purchase_status(session: Session, purchase: Purchase) -> str:
    if purchase.operation_id is None:
        return "confirmed"
    operation = session.get(Operation, purchase.operation_id)
    if operation is not None and operation.status == OperationStatus.CONFIRMED:
        return "confirmed"
    return "failed" if operation is not None and operation.status == OperationStatus.FAILED else "pending"
