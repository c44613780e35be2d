"""A member's books in SQL: lots of earned points, the debt expected on chain, tier and segments.

Applies the pure rules of ``lots`` and ``standing`` to ORM rows, in the caller's transaction (the
purchase paths apply them through ``assessment`` and ``purchase_batch``). Every writer first locks
the member (their ``customers`` row, ``FOR UPDATE``), so that on PostgreSQL two requests for one
member queue instead of both spending the same points (SQLite runs one writer at a time).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from backend.db.models import Customer, CustomerSegment, MemberState, PointLot, TierEvent
from backend.db.schema import table_of
from backend.errors import Unprocessable
from backend.loyalty.lots import LotView, allocate, expiry_of
from backend.loyalty.rules import RuleSet
from backend.loyalty.standing import Standing, after_award, retier, tier_event_rows
from backend.loyalty.standing import tier_name as tier_name
from backend.loyalty.tiers import TierChange
from backend.predictive.policy import PREFIX, is_predicted

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


def standing_of(state: MemberState | None) -> Standing | None:
    if state is None:
        return None
    return Standing(state.tier, state.tier_since, state.grace_until, state.debt, state.updated_at)


def _hold(state: MemberState, standing: Standing) -> None:
    """Write ``standing`` into the member's row."""
    state.tier, state.tier_since, state.grace_until = standing.tier, standing.tier_since, standing.grace_until
    state.debt, state.updated_at = standing.debt, standing.updated_at


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
    operation_id: int | None = None,
    keep_expiry: bool = False,
    expires_at: datetime | None = None,
) -> int:
    """Credit points that do not count towards tiers (a partner conversion, a transfer) as a new
    lot; return the points credited. Awards (``repay``) first repay the expected debt, as the
    contract does; transfers do not. The lot expires by the rules' policy, or at ``expires_at`` if
    ``keep_expiry`` (transferred points keep the expiry they had). Purchases credit theirs through
    ``purchase_batch``."""
    before = standing_of(state) if repay else None
    after, credited = after_award(before, amount, now)
    if state is not None and after is not None and after is not before:
        _hold(state, after)
        session.add(state)
    expiry = expires_at if keep_expiry else expiry_of(rules.expiry, now)
    session.execute(
        insert(table_of(PointLot)).values(
            customer_id=customer_id,
            source=source,
            purchase_id=None,
            operation_id=operation_id,
            earned_at=now,
            expires_at=expiry,
            amount=credited,
            remaining=credited,
            expired=0,
            qualifying=0,
        )
    )
    return credited


def open_lots(session: Session, customer_id: int) -> list[PointLot]:
    return list(
        session.exec(select(PointLot).where(PointLot.customer_id == customer_id, col(PointLot.remaining) > 0)).all()
    )


def purchase_lot(session: Session, purchase_id: int) -> PointLot | None:
    return session.exec(
        select(PointLot).where(PointLot.purchase_id == purchase_id, PointLot.source == "purchase")
    ).first()


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
    after, changes = retier(standing_of(state), qualifying, rules, now)
    if not changes or after is None:
        return []
    state = state or ensure_state(session, customer_id, rules)
    _hold(state, after)
    session.add(state)
    for row in tier_event_rows(customer_id, changes, after, rules):
        session.add(TierEvent(**row))
    return changes


def tier_events(session: Session, customer_id: int, limit: int = 20) -> Sequence[TierEvent]:
    return session.exec(
        select(TierEvent)
        .where(TierEvent.customer_id == customer_id)
        .order_by(col(TierEvent.at).desc(), col(TierEvent.id).desc())
        .limit(limit)
    ).all()


def set_segments(session: Session, customer: Customer, segments: Sequence[str]) -> None:
    """The member's hand-set segments; ``predicted:`` ones are the prediction runs' (refused here,
    and kept as the last run wrote them)."""
    predicted = sorted(s for s in segments if is_predicted(s))
    if predicted:
        raise Unprocessable(
            f"segment {predicted[0]!r}: the predicted: prefix is written by prediction runs only", field="segments"
        )
    table = table_of(CustomerSegment)
    session.execute(table.delete().where(table.c.customer_id == customer.id, ~table.c.segment.startswith(PREFIX)))
    for segment in sorted(set(segments)):
        session.add(CustomerSegment(customer_id=customer.id, segment=segment))  # type: ignore[arg-type]
