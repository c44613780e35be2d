"""Plain purchases recorded many at a time: the checkout's fast path.

The group-commit writer hands over every purchase that arrived while its previous transaction was
committing. For plain purchases (``PurchaseInput.is_plain``: nothing paid with points, no serialized
item) — a returning or a new customer, any rules — this reads what the whole run needs in a few
queries (its stores, the purchases already recorded under its order ids, its customers, their
member state, and their segments and qualifying points when the rules use them), computes every
purchase in order with the same rules as the per-purchase path (``rules.quote``, ``lots``,
``tiers``), then writes all rows with one bulk statement per table. Ids are allocated up front
(``backend.db.ids``) so that rows can name each other.

Every check runs before anything is written: a refused purchase writes nothing, and the others
of the run are recorded. The outcome of each purchase is exactly what ``purchases._record_one``
gives when the same purchases are recorded one after the other (a property test holds them to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlmodel import Session

from backend.chain.operations import Award, outbox_row
from backend.db.direct import bind, bulk_insert, dialect_of, in_list, list_value, marker, select_rows
from backend.db.ids import allocate_ids
from backend.db.models import (
    Customer,
    CustomerSegment,
    MemberState,
    Operation,
    OperationStatus,
    PointLot,
    Purchase,
    PurchaseLine,
    RuleSetRecord,
    Store,
    TierEvent,
)
from backend.db.schema import table_of
from backend.db.upsert import upsert_replace
from backend.errors import DomainError, NotFound, Unprocessable
from backend.loyalty.customers import new_custodial_address
from backend.loyalty.lots import expiry_of, repay_debt
from backend.loyalty.purchase_input import PurchaseInput, PurchaseOutcome, replay, reused
from backend.loyalty.refs import order_ref
from backend.loyalty.rules import MAX_POINTS_PER_ORDER, OrderLine, PointsQuote, QuoteContext, RuleSet, quote
from backend.loyalty.tiers import TierState, evaluate

Result = PurchaseOutcome | DomainError


@dataclass
class _State:
    """A member's ``member_states`` row, as this run leaves it."""

    tier: str
    tier_since: datetime
    grace_until: datetime | None
    debt: int
    updated_at: datetime
    changed: bool = False


@dataclass
class _Member:
    external_id: str
    address: str  # where awards go: the wallet once claimed, else the custodial address
    id: int | None = None  # None until allocated (enrolled by this run)
    enrolled: bool = False  # by this run
    state: _State | None = None
    segments: frozenset[str] = frozenset()
    qualifying: int = 0  # purchase points earned in the tier window, this run's included


@dataclass
class _Accepted:
    request: PurchaseInput
    digest: str
    member: _Member
    total: Decimal
    quote: PointsQuote
    expires_at: datetime | None
    credited: int
    tier_events: list[dict[str, Any]] = field(default_factory=list)
    operation_id: int | None = None
    purchase_id: int | None = None
    body: dict[str, Any] | None = None


@dataclass
class _Replay:
    """A later request of the run for an order an earlier one recorded."""

    first: _Accepted
    digest: str


def record_plain(
    session: Session, requests: Sequence[PurchaseInput], record: RuleSetRecord, rules: RuleSet, now: datetime
) -> list[Result]:
    """Record plain purchases in order; the outcome of each, or the error that refused it."""
    digests = [request.digest() for request in requests]
    recorded = _recorded(session, {request.key for request in requests})
    stores = _stores(session, {request.store_id for request in requests})
    members = _members(session, {request.customer_id for request in requests}, rules, now)
    run: dict[tuple[str, str], _Accepted] = {}
    pending: list[_Accepted | _Replay | Result] = []
    for request, digest in zip(requests, digests, strict=True):
        try:
            pending.append(_one(request, digest, recorded, run, stores, members, record, rules, now))
        except DomainError as exc:
            pending.append(exc)
    accepted = list(run.values())
    _write(session, accepted, members, record, rules, now)
    results: list[Result] = []
    for item in pending:
        if isinstance(item, _Accepted):
            assert item.body is not None
            results.append(PurchaseOutcome(item.body, replayed=False))
        elif isinstance(item, _Replay):
            results.append(_replay_in_run(item))
        else:
            results.append(item)
    return results


def _replay_in_run(item: _Replay) -> Result:
    first = item.first
    assert first.body is not None
    if first.digest != item.digest:
        return reused(first.request.order_id)
    return PurchaseOutcome(dict(first.body), replayed=True)


def _one(
    request: PurchaseInput,
    digest: str,
    recorded: dict[tuple[str, str], tuple[str, str]],
    run: dict[tuple[str, str], _Accepted],
    stores: dict[str, str],
    members: dict[str, _Member],
    record: RuleSetRecord,
    rules: RuleSet,
    now: datetime,
) -> _Accepted | _Replay | PurchaseOutcome:
    """Check and compute one purchase against the run so far (raises the error that refuses it)."""
    key = request.key
    if key in recorded:
        stored_hash, stored_response = recorded[key]
        return replay(request.order_id, stored_hash, stored_response, digest)
    if key in run:
        return _Replay(run[key], digest)
    currency = stores.get(request.store_id)
    if currency is None:
        raise NotFound(f"store {request.store_id!r} does not exist", field="store_id")
    if request.currency != currency:
        raise Unprocessable(f"store {request.store_id!r} sells in {currency}, not {request.currency}", field="currency")
    lines = [OrderLine(li.sku, li.quantity, li.unit_price, li.category) for li in request.lines]
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    member = members.get(request.customer_id)
    state = member.state if member is not None else None
    segments = member.segments if member is not None and rules.needs_segments(now) else frozenset()
    tier = rules.tier(state.tier if state else None).name
    result = quote(lines, rules, QuoteContext(now, tier, segments, 0, ()))
    if result.points > MAX_POINTS_PER_ORDER:
        raise Unprocessable(f"the order would earn more than {MAX_POINTS_PER_ORDER} points", field="lines")

    # Accepted: from here on the run's books change.
    if member is None:
        member = _Member(request.customer_id, new_custodial_address(), enrolled=True)
        members[request.customer_id] = member
    credited = result.points
    expires_at = None
    events: list[dict[str, Any]] = []
    if result.points > 0:
        if member.state is not None and member.state.debt > 0:  # an award repays debt first, as on chain
            repaid, credited = repay_debt(result.points, member.state.debt)
            member.state.debt -= repaid
            member.state.updated_at = now
            member.state.changed = True
        expires_at = expiry_of(rules.expiry, now)
        if rules.has_tier_levels:
            member.qualifying += result.points
            events = _reevaluate_tier(member, rules, now)
    accepted = _Accepted(request, digest, member, total, result, expires_at, credited, events)
    run[key] = accepted
    return accepted


def _reevaluate_tier(member: _Member, rules: RuleSet, now: datetime) -> list[dict[str, Any]]:
    """``members.reevaluate_tier`` on the run's copy of the member: the tier events to record."""
    state = member.state
    current = TierState(rules.tier(state.tier if state else None).name, state.grace_until if state else None)
    new, changes = evaluate(current, member.qualifying, now, rules.tiers, rules.tier_grace_days)
    if not changes:
        return []
    if state is None:
        state = member.state = _State(rules.base_tier.name, now, None, 0, now)
    if new.tier != state.tier:
        state.tier_since = now
    state.tier, state.grace_until, state.updated_at, state.changed = new.tier, new.grace_until, now, True
    return [
        {
            "kind": change.kind, "from_tier": change.from_tier, "to_tier": change.to_tier,
            "qualifying": change.qualifying, "rule_version": rules.version, "grace_until": new.grace_until, "at": now,
        }
        for change in changes
    ]  # fmt: skip


# -- reading what the run needs ---------------------------------------------------------


def _recorded(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(request digest, first answer) of the purchases already recorded under these keys."""
    dialect = dialect_of(session)
    stores = list_value(dialect, sorted({store for store, _ in keys}))
    orders = list_value(dialect, sorted({order for _, order in keys}))
    where = f"{in_list(dialect, 'store_id')} AND {in_list(dialect, 'order_id')}"
    rows = select_rows(session, table_of(Purchase), ("store_id", "order_id", "request_hash", "response"), where,
                   (stores, orders))  # fmt: skip
    return {(store, order): (request_hash, response) for store, order, request_hash, response in rows}


def _stores(session: Session, ids: set[str]) -> dict[str, str]:
    dialect = dialect_of(session)
    rows = select_rows(session, table_of(Store), ("id", "currency"), in_list(dialect, "id"),
                   (list_value(dialect, sorted(ids)),))  # fmt: skip
    return dict(rows)


def _members(session: Session, external_ids: set[str], rules: RuleSet, now: datetime) -> dict[str, _Member]:
    """The enrolled customers among ``external_ids``, locked (PostgreSQL: ``FOR UPDATE``, as
    ``members.lock`` does, in id order), with their state, segments and qualifying points."""
    dialect = dialect_of(session)
    lock = "ORDER BY id FOR UPDATE" if dialect.name == "postgresql" else ""
    members: dict[str, _Member] = {}
    rows = select_rows(session, table_of(Customer), ("id", "external_id", "address", "wallet"),
                   in_list(dialect, "external_id"), (list_value(dialect, sorted(external_ids)),), lock)  # fmt: skip
    for customer_id, external_id, address, wallet in rows:
        members[external_id] = _Member(external_id, wallet or address, id=int(customer_id))
    by_id = {m.id: m for m in members.values() if m.id is not None}
    if not by_id:
        return members
    ids = (list_value(dialect, sorted(by_id)),)
    by_customer = in_list(dialect, "customer_id")
    state_columns = ("customer_id", "tier", "tier_since", "grace_until", "debt", "updated_at")
    for customer_id, tier, since, grace, debt, updated in select_rows(
        session, table_of(MemberState), state_columns, by_customer, ids
    ):
        by_id[customer_id].state = _State(tier, since, grace, debt, updated)
    if rules.needs_segments(now):
        segments: dict[int, set[str]] = {}
        for customer_id, segment in select_rows(session, table_of(CustomerSegment), ("customer_id", "segment"),
                                            by_customer, ids):  # fmt: skip
            segments.setdefault(customer_id, set()).add(segment)
        for customer_id, names in segments.items():
            by_id[customer_id].segments = frozenset(names)
    if rules.has_tier_levels:
        lots = table_of(PointLot)
        since = bind(dialect, lots, "earned_at", now - timedelta(days=rules.tier_window_days))
        where = f"{by_customer} AND earned_at > {marker(dialect)} AND source = 'purchase'"
        for customer_id, total in select_rows(session, lots, ("customer_id",), where, (*ids, since),
                                              "GROUP BY customer_id", ("coalesce(sum(qualifying), 0)",)):  # fmt: skip
            by_id[customer_id].qualifying = int(total)
    return members


# -- writing the run --------------------------------------------------------------------


def _write(
    session: Session,
    accepted: list[_Accepted],
    members: dict[str, _Member],
    record: RuleSetRecord,
    rules: RuleSet,
    now: datetime,
) -> None:
    if not accepted:
        return
    enrolled = [m for m in members.values() if m.enrolled and m.id is None]
    for member, customer_id in zip(enrolled, allocate_ids(session, table_of(Customer), len(enrolled)), strict=True):
        member.id = customer_id
    awarded = [item for item in accepted if item.quote.points > 0]
    for item, operation_id in zip(awarded, allocate_ids(session, table_of(Operation), len(awarded)), strict=True):
        item.operation_id = operation_id
    for item, purchase_id in zip(accepted, allocate_ids(session, table_of(Purchase), len(accepted)), strict=True):
        item.purchase_id = purchase_id
        item.body = _body(item, rules)

    bulk_insert(session, table_of(Customer), [
        {"id": m.id, "external_id": m.external_id, "address": m.address, "wallet": None, "created_at": now,
         "erased_at": None}
        for m in enrolled
    ])  # fmt: skip
    bulk_insert(session, table_of(Operation), [_operation_row(item, record, rules, now) for item in awarded])
    bulk_insert(session, table_of(Purchase), [_purchase_row(item, record, rules, now) for item in accepted])
    bulk_insert(session, table_of(PurchaseLine), [
        {
            "purchase_id": item.purchase_id, "line_no": number, "sku": line.sku, "quantity": line.quantity,
            "unit_price": line.unit_price, "category": line.category, "gtin": line.gtin, "serial": line.serial,
            "points": int(item.quote.line_points[number]),
        }
        for item in accepted
        for number, line in enumerate(item.request.lines)
    ])  # fmt: skip
    bulk_insert(session, table_of(PointLot), [
        {
            "customer_id": item.member.id, "source": "purchase", "purchase_id": item.purchase_id,
            "operation_id": item.operation_id, "earned_at": now, "expires_at": item.expires_at,
            "amount": item.credited, "remaining": item.credited, "expired": 0, "qualifying": item.quote.points,
        }
        for item in awarded
    ])  # fmt: skip
    states = [m for m in members.values() if m.state is not None and m.state.changed]
    upsert_replace(session, table_of(MemberState), ["customer_id"], [
        {"customer_id": m.id, "tier": m.state.tier, "tier_since": m.state.tier_since,
         "grace_until": m.state.grace_until, "debt": m.state.debt, "updated_at": m.state.updated_at}
        for m in states if m.state is not None
    ])  # fmt: skip
    bulk_insert(session, table_of(TierEvent), [
        {"customer_id": item.member.id, **event} for item in accepted for event in item.tier_events
    ])  # fmt: skip


def _body(item: _Accepted, rules: RuleSet) -> dict[str, Any]:
    request = item.request
    return {
        "order_id": request.order_id,
        "store_id": request.store_id,
        "customer_id": request.customer_id,
        "points_awarded": item.quote.points,
        "paid_with_points": 0,
        "rule_version": rules.version,
        "status": "pending" if item.operation_id is not None else "confirmed",
        "operation_id": item.operation_id,
    }


def _operation_row(item: _Accepted, record: RuleSetRecord, rules: RuleSet, now: datetime) -> dict[str, Any]:
    award = Award(account=item.member.address, amount=item.quote.points, ref=order_ref(*item.request.key),
                  rule_version=rules.version)  # fmt: skip
    return outbox_row(
        award, id=item.operation_id, depends_on=record.operation_id, status=OperationStatus.PENDING.value,
        tx_hash=None, attempts=0, last_error=None, created_at=now, sent_at=None, confirmed_at=None,
        confirmed_block=None,
    )  # fmt: skip


def _purchase_row(item: _Accepted, record: RuleSetRecord, rules: RuleSet, now: datetime) -> dict[str, Any]:
    request = item.request
    explanation = item.quote.explanation(rules, record.content_hash)
    return {
        "id": item.purchase_id, "store_id": request.store_id, "order_id": request.order_id,
        "customer_id": item.member.id, "currency": request.currency, "total": item.total,
        "points_awarded": item.quote.points, "rule_version": rules.version, "operation_id": item.operation_id,
        "paid_with_points": 0, "redemption_operation_id": None,
        "explanation": orjson.dumps(explanation).decode(), "request_hash": item.digest,
        "response": orjson.dumps(item.body).decode(), "created_at": now,
    }  # fmt: skip
