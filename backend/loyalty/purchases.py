"""Purchases: points computed by the published rules, the award queued in the outbox in the same
SQL transaction, and exactly-once by (store, order id).

``record_purchases(session, requests)`` is the whole write path of purchases and never commits:
the group-commit writer calls it with every purchase that arrived while its previous transaction
was committing. Plain purchases (the checkout's common case) are recorded many at a time by
``purchase_batch``; a purchase paid with points or with serialized lines goes through
``_record_one`` (ORM, one purchase at a time, in its own savepoint), which burns the points and
hands the items to provenance (marks them sold, and the program's genuine-product bonuses they earn).
Both apply the same rules and write the same rows; ``record_purchase`` is the one-purchase call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session, select

from backend.chain.operations import Award, Redeem, enqueue
from backend.consent.till_codes import use_code
from backend.db.models import Customer, Operation, OperationStatus, Purchase, PurchaseLine, Store
from backend.db.types import utcnow
from backend.errors import DomainError, NotFound, Unprocessable
from backend.loyalty import members
from backend.loyalty.customers import enrol, find_customer
from backend.loyalty.outbox import active_address
from backend.loyalty.program import rules_in_force, rules_in_force_cached
from backend.loyalty.purchase_batch import record_plain
from backend.loyalty.purchase_input import PurchaseInput, PurchaseLineInput, PurchaseOutcome, replay
from backend.loyalty.refs import order_ref
from backend.loyalty.rules import MAX_POINTS_PER_ORDER, OrderLine, QuoteContext, quote
from backend.loyalty.spending import ensure_can_spend
from backend.provenance.sales import record_sales

__all__ = [
    "PurchaseInput",
    "PurchaseLineInput",
    "PurchaseOutcome",
    "order_ref",
    "record_purchase",
    "record_purchases",
]

Result = PurchaseOutcome | DomainError


def record_purchases(
    session: Session, requests: Sequence[PurchaseInput], now: datetime | None = None, *, batch: bool = True
) -> list[Result]:
    """Record purchases in order, in the caller's transaction; the outcome of each, or the error
    that refused it (a refused purchase writes nothing; the others are recorded). A purchase for
    an order recorded earlier (or earlier in ``requests``) is a replay, or a 409 if its content
    differs. ``batch=False`` records every purchase through the per-purchase path (the reference
    the batch path is tested against).

    Runs of plain purchases are recorded together; the others one at a time, between the runs,
    so that every purchase sees the books exactly as the purchases before it left them.
    """
    now = now or utcnow()
    results: list[Result | None] = [None] * len(requests)
    run: list[int] = []

    def flush() -> None:
        if run:
            try:
                record, rules = rules_in_force_cached(session)
            except DomainError as exc:
                outcomes: list[Result] = [exc] * len(run)
            else:
                outcomes = record_plain(session, [requests[i] for i in run], record, rules, now)
            for i, outcome in zip(run, outcomes, strict=True):
                results[i] = outcome
            run.clear()

    for i, request in enumerate(requests):
        if batch and request.is_plain:
            run.append(i)
            continue
        flush()
        try:
            with session.begin_nested():  # a refused purchase rolls back alone
                results[i] = _record_one(session, request, now)
        except DomainError as exc:
            results[i] = exc
    flush()
    return [result for result in results if result is not None]


def record_purchase(session: Session, request: PurchaseInput, now: datetime | None = None) -> PurchaseOutcome:
    """Record one purchase (see ``record_purchases``); raise the error that refuses it."""
    (result,) = record_purchases(session, [request], now)
    if isinstance(result, DomainError):
        raise result
    return result


def find_purchase(session: Session, store_id: str, order_id: str, for_update: bool = False) -> Purchase | None:
    query = select(Purchase).where(Purchase.store_id == store_id, Purchase.order_id == order_id)
    return session.exec(query.with_for_update() if for_update else query).first()


def _check_store(session: Session, request: PurchaseInput) -> Store:
    store = session.get(Store, request.store_id)
    if store is None:
        raise NotFound(f"store {request.store_id!r} does not exist", field="store_id")
    if request.currency != store.currency:
        raise Unprocessable(f"store {store.id!r} sells in {store.currency}, not {request.currency}", field="currency")
    return store


def _pay_with_points(
    session: Session, customer: Customer, customer_id: int, request: PurchaseInput
) -> Operation | None:
    """Burn the points the customer pays with (refused if they do not have them)."""
    points = request.paid_with_points
    if points == 0:
        return None
    ensure_can_spend(session, customer, points, field="paid_with_points", custodial_only=True)
    burn = Redeem(account=active_address(customer), amount=points, ref=order_ref(request.store_id, request.order_id))
    operation = enqueue(session, burn)
    members.take(session, customer_id, points)
    return operation


def _record_one(session: Session, request: PurchaseInput, now: datetime) -> PurchaseOutcome:
    """Record one purchase (ORM) and queue its award; a replay returns the first answer.

    Never rolls back: the caller runs it in a savepoint. If another writer records the same order
    concurrently, the insert fails (unique key) and the group-commit writer runs its batch again,
    which then finds that purchase and replays it (or answers 409)."""
    digest = request.digest()
    existing = find_purchase(session, request.store_id, request.order_id)
    if existing is not None:
        return replay(existing.order_id, existing.request_hash, existing.response, digest)
    if request.till_code is not None:  # the customer's consent comes before anything else
        purpose = f"purchase:{request.store_id}:{request.order_id}"
        use_code(session, find_customer(session, request.customer_id), request.till_code, purpose, request.till_key)

    store = _check_store(session, request)
    record, rules = rules_in_force(session)
    lines = [OrderLine(li.sku, li.quantity, li.unit_price, li.category) for li in request.lines]
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    paid_value = rules.point_value * request.paid_with_points
    if paid_value > total:
        raise Unprocessable(
            f"{request.paid_with_points} points are worth {paid_value}, more than the order total {total}",
            field="paid_with_points",
        )
    customer, new = enrol(session, request.customer_id)
    assert customer.id is not None
    cid = customer.id
    state = None if new else members.state_of(session, cid, for_update=True)
    segments = frozenset() if new or not rules.needs_segments(now) else members.segments_of(session, cid)
    # Provenance: serialized lines mark their items sold; genuine ones earn what the program's
    # genuine-product bonus rules give (never a number a brand set).
    sales = record_sales(session, store.id, request.order_id, request.lines, rules.genuine_bonuses, now)
    context = QuoteContext(now, members.tier_name(state, rules), segments, request.paid_with_points, sales.bonuses)
    result = quote(lines, rules, context)
    if result.points > MAX_POINTS_PER_ORDER:
        raise Unprocessable(f"the order would earn more than {MAX_POINTS_PER_ORDER} points", field="lines")

    redemption = _pay_with_points(session, customer, cid, request)
    address = active_address(customer)
    award = None
    if result.points > 0:
        earned = Award(account=address, amount=result.points, ref=order_ref(store.id, request.order_id),
                       rule_version=rules.version)  # fmt: skip
        award = enqueue(session, earned, after=record.operation_id)
    body = {
        "order_id": request.order_id,
        "store_id": store.id,
        "customer_id": request.customer_id,
        "points_awarded": result.points,
        "paid_with_points": request.paid_with_points,
        "rule_version": rules.version,
        "status": "pending" if award or redemption else "confirmed",
        "operation_id": award.id if award else None,
    }
    purchase = Purchase(
        store_id=store.id,
        order_id=request.order_id,
        customer_id=cid,
        currency=request.currency,
        total=total,
        points_awarded=result.points,
        rule_version=rules.version,
        operation_id=award.id if award else None,
        paid_with_points=request.paid_with_points,
        redemption_operation_id=redemption.id if redemption else None,
        explanation=json.dumps(result.explanation(rules, record.content_hash), separators=(",", ":")),
        request_hash=digest,
        response=json.dumps(body),
        created_at=now,
    )
    session.add(purchase)
    session.flush()
    for number, line in enumerate(request.lines):
        session.add(PurchaseLine(
            purchase_id=purchase.id, line_no=number, sku=line.sku, quantity=line.quantity,  # type: ignore[arg-type]
            unit_price=line.unit_price, category=line.category, gtin=line.gtin, serial=line.serial,
            points=int(result.line_points[number]),
        ))  # fmt: skip
    if result.points > 0:
        members.credit(
            session, cid, result.points, "purchase", rules, now, state=state,
            purchase_id=purchase.id, operation_id=award.id if award else None, qualifying=result.points,
        )  # fmt: skip
        if rules.has_tier_levels:
            members.reevaluate_tier(session, cid, rules, now, state)
    return PurchaseOutcome(body, replayed=False)


def purchase_status(session: Session, purchase: Purchase) -> str:
    statuses = [
        operation.status
        for op_id in (purchase.operation_id, purchase.redemption_operation_id)
        if op_id is not None and (operation := session.get(Operation, op_id)) is not None
    ]
    if any(status == OperationStatus.FAILED for status in statuses):
        return "failed"
    return "confirmed" if all(status == OperationStatus.CONFIRMED for status in statuses) else "pending"
