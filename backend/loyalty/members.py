"""A member's books in SQL: lots of earned points, the debt expected on chain, tier and segments.

Applies the pure rules of ``lots`` and ``tiers`` to rows, in the caller's transaction. Every writer
first locks the member (their ``customers`` row, ``FOR UPDATE``), so that on PostgreSQL two requests
for one member queue instead of both spending the same points (SQLite runs one writer at a time).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from backend.db.models import Customer, CustomerSegment, MemberState, PointLot, TierEvent
from backend.db.schema import table_of
from backend.loyalty.lots import LotView, allocate, expiry_of, repay_debt
from backend.loyalty.rules import RuleSet
from backend.loyalty.tiers import TierChange, TierState, evaluate

Allocation = list[tuple[int, int]]


def lock(session: Session, customer_id: int) -> None:
    """Hold the member until the transaction ends (a no-op on SQLite, whose writers are serial)."""
    session.exec(select(Customer.id).where(Customer.id == customer_id).with_for_update()).first()


def state_of(session: Session, customer_id: int, for_update: bool = False) -> MemberState | None:
    """The member's state; ``for_update`` locks the member first (see ``lock``)."""
    if for_update:
        lock(session, customer_id)
    return session.exec(select(MemberState).where(MemberState.customer_id == customer_id)).first()


def ensure_state(session: Session, customer_id: int, rules: RuleSet) -> MemberState:
    state = state_of(session, customer_id, for_update=True)
    if state is None:
        state = MemberState(customer_id=customer_id, tier=rules.base_tier.name)
        session.add(state)
        session.flush()
    return state


def tier_name(state: MemberState | None, rules: RuleSet) -> str:
    return rules.tier(state.tier if state else None).name


def segments_of(session: Session, customer_id: int) -> frozenset[str]:
    rows = session.exec(select(CustomerSegment.segment).where(CustomerSegment.customer_id == customer_id)).all()
    return frozenset(rows)


# -- lots ---------------------------------------------------------------------------------


def credit(
    session: Session,
    customer_id: int,
    amount: int,
    source: str,
    rules: RuleSet,
    now: datetime,
    *,
    state: MemberState | None = None,
    repay: bool = True,
    purchase_id: int | None = None,
    operation_id: int | None = None,
    qualifying: int = 0,
    keep_expiry: bool = False,
    expires_at: datetime | None = None,
) -> int:
    """Credit points as a new lot; return the points credited. Awards (``repay``) first repay the
    expected debt, as the contract does; transfers do not. The lot expires by the rules' policy, or
    at ``expires_at`` if ``keep_expiry`` (transferred points keep the expiry they had)."""
    credited = amount
    if repay and state is not None and state.debt > 0:
        repaid, credited = repay_debt(amount, state.debt)
        state.debt -= repaid
        state.updated_at = now
        session.add(state)
    expiry = expires_at if keep_expiry else expiry_of(rules.expiry, now)
    # A Core insert: this runs for every purchase, on the checkout path.
    session.execute(insert(table_of(PointLot)).values(
        customer_id=customer_id, source=source, purchase_id=purchase_id, operation_id=operation_id, earned_at=now,
        expires_at=expiry, amount=credited, remaining=credited, expired=0, qualifying=qualifying,
    ))  # fmt: skip
    return credited


def open_lots(session: Session, customer_id: int) -> list[PointLot]:
    return list(
        session.exec(select(PointLot).where(PointLot.customer_id == customer_id, col(PointLot.remaining) > 0)).all()
    )


def purchase_lot(session: Session, purchase_id: int) -> PointLot | None:
    return session.exec(
        select(PointLot).where(PointLot.purchase_id == purchase_id, PointLot.source == "purchase")
    ).first()


def lots_total(session: Session, customer_id: int) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(PointLot.remaining), 0)).where(PointLot.customer_id == customer_id)
    ).one()
    return int(total)


def take(session: Session, customer_id: int, amount: int, first_lot: int | None = None) -> tuple[Allocation, int]:
    """Take ``amount`` from the member's lots, soonest-expiring first; return what was taken from
    which lot, and the shortfall the lots could not cover."""
    session.flush()
    lots = open_lots(session, customer_id)
    views = [LotView(lot.id, lot.remaining, lot.expires_at, lot.earned_at) for lot in lots]  # type: ignore[arg-type]
    takes, shortfall = allocate(views, amount, first=first_lot)
    by_id = {lot.id: lot for lot in lots}
    for lot_id, taken in takes:
        lot = by_id[lot_id]
        lot.remaining -= taken
        session.add(lot)
    return takes, shortfall


def give_back(session: Session, allocations: Allocation) -> None:
    """Undo a ``take`` (its operation failed on chain)."""
    table = table_of(PointLot)
    for lot_id, taken in allocations:
        session.execute(update(table).where(table.c.id == lot_id).values(remaining=table.c.remaining + taken))


def lots_of(session: Session, allocations: Allocation) -> list[PointLot]:
    ids = [lot_id for lot_id, _ in allocations]
    return list(session.exec(select(PointLot).where(col(PointLot.id).in_(ids))).all()) if ids else []


def encode(allocations: Allocation) -> str:
    return json.dumps(allocations)


def decode(text: str) -> Allocation:
    return [(int(a), int(b)) for a, b in json.loads(text or "[]")]


# -- tiers --------------------------------------------------------------------------------


def qualifying_points(session: Session, customer_id: int, rules: RuleSet, now: datetime) -> int:
    """Points earned by purchases in the rolling window, net of refunds."""
    since = now - timedelta(days=rules.tier_window_days)
    total = session.exec(
        select(func.coalesce(func.sum(PointLot.qualifying), 0)).where(
            PointLot.customer_id == customer_id, col(PointLot.earned_at) > since, PointLot.source == "purchase"
        )
    ).one()
    return int(total)


def reevaluate_tier(
    session: Session, customer_id: int, rules: RuleSet, now: datetime, state: MemberState | None = None
) -> list[TierChange]:
    """Apply the tier rules to the member's current qualifying points; record every change."""
    session.flush()
    qualifying = qualifying_points(session, customer_id, rules, now)
    current = TierState(tier_name(state, rules), state.grace_until if state else None)
    new, changes = evaluate(current, qualifying, now, rules.tiers, rules.tier_grace_days)
    if not changes:
        return []
    state = state or ensure_state(session, customer_id, rules)
    if new.tier != state.tier:
        state.tier_since = now
    state.tier, state.grace_until, state.updated_at = new.tier, new.grace_until, now
    session.add(state)
    for change in changes:
        session.add(TierEvent(
            customer_id=customer_id, kind=change.kind, from_tier=change.from_tier, to_tier=change.to_tier,
            qualifying=change.qualifying, rule_version=rules.version, grace_until=new.grace_until, at=now,
        ))  # fmt: skip
    return changes


def tier_events(session: Session, customer_id: int, limit: int = 20) -> Sequence[TierEvent]:
    return session.exec(
        select(TierEvent)
        .where(TierEvent.customer_id == customer_id)
        .order_by(col(TierEvent.at).desc(), col(TierEvent.id).desc())
        .limit(limit)
    ).all()


def set_segments(session: Session, customer: Customer, segments: Sequence[str]) -> None:
    table = table_of(CustomerSegment)
    session.execute(table.delete().where(table.c.customer_id == customer.id))
    for segment in sorted(set(segments)):
        session.add(CustomerSegment(customer_id=customer.id, segment=segment))  # type: ignore[arg-type]
