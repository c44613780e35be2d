"""Periodic upkeep of the program (``credance loyalty maintain``, or ``POST /v1/maintenance`` by an admin):

- expiry: lots whose time has come are emptied and their points burned on chain (``expireBatch``);
- tiers: every member's tier is evaluated again, since the rolling window moves and grace periods end;
- undo: redemptions and transfers the chain refused for good give their points (and stock) back.

Each step is idempotent: running it twice queues nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from backend.chain.operations import Expire, enqueue
from backend.db.models import (
    Customer,
    MemberState,
    Operation,
    OperationStatus,
    PointLot,
    PointTransfer,
    Redemption,
    Reward,
)
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.loyalty import members
from backend.loyalty.in_flight import active_address, in_flight_claim
from backend.loyalty.program import current_rule_set


@dataclass(frozen=True)
class MaintenanceReport:
    expired_points: int
    expiry_operations: int
    tier_changes: int
    undone: int


def expire_lots(session: Session, now: datetime) -> tuple[int, int]:
    """Empty every lot due at ``now``; queue one burn per member. Returns (points, operations)."""
    due = col(PointLot.remaining) > 0, col(PointLot.expires_at).is_not(None), col(PointLot.expires_at) <= now
    customer_ids = sorted(set(session.exec(select(PointLot.customer_id).where(*due)).all()))
    points = operations = 0
    for customer_id in customer_ids:
        members.lock(session, customer_id)  # a redemption of the same lots waits, or goes first
        expired = 0
        for lot in session.exec(select(PointLot).where(PointLot.customer_id == customer_id, *due)).all():
            expired += lot.remaining
            lot.expired += lot.remaining
            lot.remaining = 0
            session.add(lot)
        if expired == 0:
            continue
        customer = session.get(Customer, customer_id)
        assert customer is not None
        claim = in_flight_claim(session, customer)
        enqueue(session, Expire(account=active_address(customer), amount=expired), after=claim)
        points, operations = points + expired, operations + 1
    return points, operations


def reevaluate_tiers(session: Session, now: datetime) -> int:
    """Evaluate the tier of every member who has one above the base, a grace period, or recent earnings."""
    rules = current_rule_set(session)
    if rules is None:
        return 0
    since = now - timedelta(days=rules.tier_window_days)
    with_state = set(session.exec(select(MemberState.customer_id)).all())
    earning = set(
        session.exec(
            select(PointLot.customer_id)
            .where(PointLot.source == "purchase", col(PointLot.earned_at) > since)
            .distinct()
        ).all()
    )
    changes = 0
    for customer_id in sorted(with_state | earning):
        state = members.state_of(session, customer_id, for_update=True)
        changes += len(members.reevaluate_tier(session, customer_id, rules, now, state))
    return changes


def _failed(session: Session, model: type[Redemption] | type[PointTransfer]) -> list[Redemption | PointTransfer]:
    rows = session.exec(
        select(model)
        .join(Operation, col(Operation.id) == model.operation_id)
        .where(model.status == "accepted", Operation.status == OperationStatus.FAILED)
    ).all()
    return [row for row in rows if isinstance(row, Redemption | PointTransfer)]


def undo_failed(session: Session) -> int:
    """Give back what refused redemptions and transfers took in SQL; return how many were undone."""
    undone = 0
    rewards = table_of(Reward)
    for redemption in _failed(session, Redemption):
        assert isinstance(redemption, Redemption)
        members.give_back(session, members.decode(redemption.allocations))
        session.execute(
            update(rewards)
            .where(rewards.c.id == redemption.reward_id, rewards.c.stock.is_not(None))
            .values(stock=rewards.c.stock + redemption.quantity)
        )
        redemption.status = "failed"
        session.add(redemption)
        undone += 1
    lots = table_of(PointLot)
    for transfer in _failed(session, PointTransfer):
        members.give_back(session, members.decode(transfer.allocations))
        session.execute(
            update(lots)
            .where(lots.c.operation_id == transfer.operation_id, lots.c.source == "transfer")
            .values(remaining=0)
        )
        transfer.status = "failed"
        session.add(transfer)
        undone += 1
    return undone


def maintain(session: Session, now: datetime | None = None) -> MaintenanceReport:
    now = now or utcnow()
    undone = undo_failed(session)
    points, operations = expire_lots(session, now)
    changes = reevaluate_tiers(session, now)
    return MaintenanceReport(points, operations, changes, undone)
