"""Purchases: points computed by the published rules, the award queued in the outbox in the same
SQL transaction, and exactly-once by (store, order id).

``record_purchases(session, requests)`` is the whole write path of purchases and never commits:
the group-commit writer calls it with every purchase that arrived while its previous transaction
was committing. Plain purchases (the checkout's common case) are recorded many at a time by
``purchase_batch``; a purchase paid with points or with serialized lines is recorded one at a time
(an idempotent command: ``idempotency.run_once``, in its own savepoint), which also burns the
points and hands the items to provenance (marks them sold, and the program's genuine-product
bonuses they earn). Both paths apply the rules of ``assessment`` and read and write the member's
books through ``purchase_batch``; ``record_purchase`` is the one-purchase call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from backend.chain.operations import Redeem, enqueue
from backend.consent.till_codes import use_code
from backend.db.direct import pinned
from backend.db.models import Customer, Operation, OperationStatus, Purchase, Store
from backend.db.types import utcnow
from backend.errors import DomainError
from backend.loyalty import members
from backend.loyalty.assessment import assess, check_store, priced
from backend.loyalty.customers import enrol, find_customer
from backend.loyalty.idempotency import Outcome, run_once
from backend.loyalty.in_flight import active_address
from backend.loyalty.program import rules_in_force, rules_in_force_cached
from backend.loyalty.purchase_batch import Accepted, RecordedAnswer, load_members, record_plain, recorded_answers, write
from backend.loyalty.purchase_input import PurchaseInput, PurchaseLineInput
from backend.loyalty.refs import order_ref
from backend.loyalty.spending import ensure_can_spend
from backend.provenance.sales import record_sales

PurchaseOutcome = Outcome  # a purchase's answer, as every idempotent command's

__all__ = [
    "PurchaseInput",
    "PurchaseLineInput",
    "PurchaseOutcome",
    "order_ref",
    "record_purchase",
    "record_purchases",
]

Result = Outcome | DomainError


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
            with pinned(session):  # the run writes through the driver only, never the ORM
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
            results[i] = _record_one(session, request, now)
        except DomainError as exc:  # refused: its savepoint is rolled back, the others stand
            results[i] = exc
    flush()
    return [result for result in results if result is not None]


def record_purchase(session: Session, request: PurchaseInput, now: datetime | None = None) -> Outcome:
    """Record one purchase (see ``record_purchases``); raise the error that refuses it."""
    (result,) = record_purchases(session, [request], now)
    if isinstance(result, DomainError):
        raise result
    return result


def find_purchase(session: Session, store_id: str, order_id: str, for_update: bool = False) -> Purchase | None:
    query = select(Purchase).where(Purchase.store_id == store_id, Purchase.order_id == order_id)
    return session.exec(query.with_for_update() if for_update else query).first()


def _record_one(session: Session, request: PurchaseInput, now: datetime) -> Outcome:
    """Record one purchase, or answer it again (a replay, or a 409 for a reused order id)."""

    def recorded() -> RecordedAnswer | None:
        return recorded_answers(session, {request.key}).get(request.key)

    return run_once(session, request, recorded, lambda digest: _record_new(session, request, digest, now))


def _record_new(session: Session, request: PurchaseInput, digest: str, now: datetime) -> dict[str, Any]:
    """The purchase's rows and operations (in ``run_once``'s savepoint); its answer."""
    if request.till_code is not None:  # the customer's consent comes before anything else
        purpose = f"purchase:{request.store_id}:{request.order_id}"
        use_code(session, find_customer(session, request.customer_id), request.till_code, purpose, request.till_key)
    store = session.get(Store, request.store_id)
    check_store(request, store.currency if store is not None else None)
    record, rules = rules_in_force(session)
    order = priced(request, rules)
    customer, _ = enrol(session, request.customer_id)
    member = load_members(session, {request.customer_id}, rules, now)[request.customer_id]
    # Provenance: serialized lines mark their items sold; genuine ones earn what the program's
    # genuine-product bonus rules give (never a number a brand set).
    sales = record_sales(session, request.store_id, request.order_id, request.lines, rules.genuine_bonuses, now)
    assessment = assess(request, order, rules, member.facts, now, sales.bonuses)
    redemption = _pay_with_points(session, customer, request)
    member.accept(assessment)
    item = Accepted(request, digest, member, assessment, redemption_id=redemption.id if redemption else None)
    write(session, [item], [member], record, rules, now)
    assert item.body is not None
    return item.body


def _pay_with_points(session: Session, customer: Customer, request: PurchaseInput) -> Operation | None:
    """Burn the points the customer pays with (refused if they do not have them)."""
    points = request.paid_with_points
    if points == 0:
        return None
    assert customer.id is not None
    ensure_can_spend(session, customer, points, field="paid_with_points", custodial_only=True)
    burn = Redeem(account=active_address(customer), amount=points, ref=order_ref(request.store_id, request.order_id))
    operation = enqueue(session, burn)
    members.take(session, customer.id, points)
    return operation


def purchase_status(session: Session, purchase: Purchase) -> str:
    return status_of(
        operation.status
        for op_id in (purchase.operation_id, purchase.redemption_operation_id)
        if op_id is not None and (operation := session.get(Operation, op_id)) is not None
    )


def status_of(operation_statuses: Iterable[str | None]) -> str:
    """A purchase's status from its operations' (the award, the points paid; None: no such
    operation): failed if one failed, confirmed once all are, else pending."""
    statuses = [status for status in operation_statuses if status is not None]
    if OperationStatus.FAILED in statuses:
        return "failed"
    return "confirmed" if all(status == OperationStatus.CONFIRMED for status in statuses) else "pending"
