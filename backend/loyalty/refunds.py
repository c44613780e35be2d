"""Refunds: take back the points of the refunded share of an order, once per refund id.

The arithmetic is in ``refund_math``. The reversal is queued in the outbox; on chain it burns what
the account holds and records the rest as debt, which later awards repay first. In SQL the points
come out of the order's own lot first, then the soonest-expiring others, and the qualifying points
of the order's lot shrink (refunds count against tiers, dated when the points were earned).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.chain.operations import Reverse, enqueue
from backend.db.models import Customer, Purchase, PurchaseLine, Refund, RefundLine
from backend.db.types import utcnow
from backend.errors import Conflict, NotFound, Unprocessable
from backend.loyalty import members
from backend.loyalty.idempotency import IdempotentCommand, Outcome, recorded_under, run_once
from backend.loyalty.in_flight import active_address, in_flight_claim
from backend.loyalty.program import rules_in_force
from backend.loyalty.purchases import find_purchase
from backend.loyalty.refs import refund_ref
from backend.loyalty.refund_math import RefundableLine, RefundResult, RefundState, refund_amount, refund_lines
from backend.provenance.passports import claimed_serials


@dataclass(frozen=True)
class RefundLineInput:
    sku: str
    quantity: int


@dataclass(frozen=True)
class RefundInput(IdempotentCommand):
    noun = "refund"
    id_field = "refund_id"

    store_id: str
    order_id: str
    refund_id: str
    lines: list[RefundLineInput] | None = None
    amount: Decimal | None = None

    def canonical(self) -> Any:
        """The refund within its order (the store and order are where it is recorded)."""
        return {
            "refund_id": self.refund_id,
            "lines": None if self.lines is None else [[li.sku, li.quantity] for li in self.lines],
            "amount": None if self.amount is None else format(self.amount.normalize(), "f"),
        }


def _refundable(purchase: Purchase, lines: list[PurchaseLine]) -> list[RefundableLine]:
    explained = json.loads(purchase.explanation)["lines"] if purchase.explanation else []
    weights = {int(e["line_no"]): Decimal(e.get("base_points", "0")) for e in explained}
    return [RefundableLine(li.quantity, li.unit_price, weights.get(li.line_no, Decimal(0))) for li in lines]


def refunds_of(session: Session, purchase_id: int) -> list[Refund]:
    return list(session.exec(select(Refund).where(Refund.purchase_id == purchase_id).order_by(col(Refund.id))).all())


def _state(session: Session, purchase_id: int, lines: list[PurchaseLine]) -> RefundState:
    refunds = refunds_of(session, purchase_id)
    if not refunds:
        return RefundState.empty(len(lines))
    sums = dict(
        session.exec(
            select(RefundLine.line_no, func.sum(RefundLine.quantity))
            .join(Refund, col(Refund.id) == RefundLine.refund_pk)
            .where(Refund.purchase_id == purchase_id)
            .group_by(col(RefundLine.line_no))
        ).all()
    )
    return RefundState(
        refunded_quantities=tuple(int(sums.get(li.line_no, 0)) for li in lines),
        refunded_value=sum((r.value for r in refunds), Decimal(0)),
        share=Fraction(refunds[-1].share),
        reversed_points=sum(r.points_reversed for r in refunds),
    )


def _line_quantities(request: RefundInput, lines: list[PurchaseLine], state: RefundState) -> dict[int, int]:
    """Spread each refunded SKU over the order's lines of that SKU, in order."""
    left = [li.quantity - done for li, done in zip(lines, state.refunded_quantities, strict=True)]
    quantities: dict[int, int] = {}
    for n, wanted in enumerate(request.lines or []):
        indexes = [i for i, li in enumerate(lines) if li.sku == wanted.sku]
        if not indexes:
            raise Unprocessable(f"SKU {wanted.sku!r} is not in order {request.order_id!r}", field=f"lines[{n}].sku")
        need = wanted.quantity
        for i in indexes:
            take = min(need, left[i])
            if take:
                quantities[i] = quantities.get(i, 0) + take
                left[i] -= take
                need -= take
        if need:
            bought = sum(lines[i].quantity for i in indexes)
            raise Unprocessable(
                f"refunds of SKU {wanted.sku!r} would exceed the {bought} bought", field=f"lines[{n}].quantity"
            )
    return quantities


def _compute(request: RefundInput, purchase: Purchase, lines: list[PurchaseLine], state: RefundState) -> RefundResult:
    if (request.lines is None) == (request.amount is None):
        raise Unprocessable("give either refunded lines or an amount", field="lines")
    refundable = _refundable(purchase, lines)
    if request.lines is not None:
        quantities = _line_quantities(request, lines, state)
        return refund_lines(refundable, purchase.points_awarded, state, quantities)
    assert request.amount is not None
    return refund_amount(refundable, purchase.points_awarded, state, request.amount)


def _keep_claimed_passports(
    session: Session, request: RefundInput, purchase_id: int, lines: list[PurchaseLine], state: RefundState
) -> None:
    """A line whose item's passport was claimed is not refunded: the passport is its owner's, and
    a refund would leave a certificate of ownership of an item the shop took back (docs/passports.md)."""
    if request.lines is None:
        return  # an amount refund names no item: a goodwill gesture, the item stays sold
    claimed = claimed_serials(session, purchase_id)
    if not claimed:
        return
    for index in _line_quantities(request, lines, state):
        serial = lines[index].serial
        if serial in claimed:
            n = next(n for n, wanted in enumerate(request.lines) if wanted.sku == lines[index].sku)
            raise Conflict(
                f"the passport of the item sold on line {lines[index].line_no} was claimed: it cannot be refunded",
                field=f"lines[{n}].sku",
            )


def _take_back(session: Session, purchase: Purchase, points: int, now: datetime) -> None:
    """The SQL side of a reversal: the order's lot first, then others; what is missing is debt."""
    _, rules = rules_in_force(session)
    state = members.ensure_state(session, purchase.customer_id, rules)
    own = members.purchase_lot(session, purchase.id)  # type: ignore[arg-type]
    _, shortfall = members.take(session, purchase.customer_id, points, first_lot=own.id if own else None)
    if shortfall:
        state.debt += shortfall
        state.updated_at = now
        session.add(state)
    if own is not None:
        own.qualifying = max(own.qualifying - points, 0)
        session.add(own)
    if rules.has_tier_levels:
        members.reevaluate_tier(session, purchase.customer_id, rules, now, state)


def record_refund(session: Session, request: RefundInput, now: datetime | None = None) -> Outcome:
    """Record a refund and queue the reversal of its points; a replay returns the first answer."""
    now = now or utcnow()
    purchase = find_purchase(session, request.store_id, request.order_id, for_update=True)  # one refund at a time
    if purchase is None:
        raise NotFound(f"order {request.order_id!r} is not recorded for store {request.store_id!r}", field="order_id")
    purchase_id = purchase.id
    assert purchase_id is not None

    recorded = recorded_under(session, Refund, purchase_id=purchase_id, refund_id=request.refund_id)
    return run_once(session, request, recorded, lambda digest: _refund(session, request, purchase, digest, now))


def _refund(session: Session, request: RefundInput, purchase: Purchase, digest: str, now: datetime) -> dict[str, Any]:
    """The refund's rows and reversal (in ``run_once``'s savepoint); its answer."""
    assert purchase.id is not None
    lines = list(
        session.exec(
            select(PurchaseLine).where(PurchaseLine.purchase_id == purchase.id).order_by(col(PurchaseLine.line_no))
        ).all()
    )
    state = _state(session, purchase.id, lines)
    result = _compute(request, purchase, lines, state)
    _keep_claimed_passports(session, request, purchase.id, lines, state)
    customer = session.get(Customer, purchase.customer_id)
    assert customer is not None
    operation = None
    if result.points > 0:
        claim = in_flight_claim(session, customer)
        reversal = Reverse(
            account=active_address(customer),
            amount=result.points,
            ref=refund_ref(request.store_id, request.order_id, request.refund_id),
        )
        operation = enqueue(session, reversal, after=claim)
    body = {
        "order_id": request.order_id,
        "store_id": request.store_id,
        "refund_id": request.refund_id,
        "points_reversed": result.points,
        "points_reversed_total": result.state.reversed_points,
        "points_awarded": purchase.points_awarded,
        "refunded_value": format(result.value.normalize(), "f"),
        "status": "pending" if operation else "confirmed",
        "operation_id": operation.id if operation else None,
    }
    refund = Refund(
        purchase_id=purchase.id,
        refund_id=request.refund_id,
        value=result.value,
        share=str(result.state.share),
        points_reversed=result.points,
        operation_id=operation.id if operation else None,
        request_hash=digest,
        response=json.dumps(body),
    )
    session.add(refund)
    session.flush()
    for index, quantity in enumerate(result.state.refunded_quantities):
        done = quantity - state.refunded_quantities[index]
        if done:
            session.add(RefundLine(refund_pk=refund.id, line_no=lines[index].line_no, quantity=done))  # type: ignore[arg-type]
    if result.points > 0:
        _take_back(session, purchase, result.points, now)
    return body
