"""The reward catalog and redemptions: points burned on chain against a reward, once per id.

Custodial members redeem through the platform (``redeemFor``); members who hold their own wallet
sign an ERC-2612 permit for the points (spender: the token contract), which the platform relays
(``redeemWithPermit``), so nobody needs gas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from backend.chain.operations import Redeem, RedeemWithPermit, enqueue
from backend.db.models import Customer, Operation, Redemption, Reward
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.errors import Conflict, NotFound, Unprocessable
from backend.loyalty import collectibles, members
from backend.loyalty.customers import get_customer
from backend.loyalty.idempotency import IdempotentCommand, Outcome, recorded_under, run_once
from backend.loyalty.in_flight import active_address
from backend.loyalty.refs import redemption_ref
from backend.loyalty.spending import ensure_can_spend

MAX_REDEMPTION_POINTS = 10**12


# -- catalog ------------------------------------------------------------------------------


def get_reward(session: Session, reward_id: str) -> Reward:
    reward = session.get(Reward, reward_id)
    if reward is None:
        raise NotFound(f"reward {reward_id!r} does not exist", field="reward_id")
    return reward


def create_reward(
    session: Session, reward_id: str, name: str, points_price: int, stock: int | None, description: str = ""
) -> Reward:
    if session.get(Reward, reward_id) is not None:
        raise Conflict(f"reward {reward_id!r} already exists", field="id")
    reward = Reward(id=reward_id, name=name, description=description, points_price=points_price, stock=stock)
    session.add(reward)
    return reward


def update_reward(session: Session, reward_id: str, changes: dict[str, Any]) -> Reward:
    reward = get_reward(session, reward_id)
    collectibles.refuse_stock_change(reward, changes)
    for name, value in changes.items():
        setattr(reward, name, value)
    reward.updated_at = utcnow()
    session.add(reward)
    return reward


def list_rewards(session: Session, include_inactive: bool) -> list[Reward]:
    query = select(Reward).order_by(col(Reward.id))
    if not include_inactive:
        query = query.where(col(Reward.active).is_(True))
    return list(session.exec(query).all())


# -- redemptions --------------------------------------------------------------------------


@dataclass(frozen=True)
class Permit:
    """An ERC-2612 permit signed by the wallet: value = the points, spender = the token contract."""

    deadline: int
    v: int
    r: str
    s: str


@dataclass(frozen=True)
class RedemptionInput(IdempotentCommand):
    noun = "redemption"
    id_field = "redemption_id"

    customer_id: str
    redemption_id: str
    reward_id: str
    quantity: int = 1
    permit: Permit | None = None


def _take_stock(session: Session, reward: Reward, quantity: int) -> None:
    table = table_of(Reward)
    done = session.execute(
        update(table)
        .where(table.c.id == reward.id, or_(table.c.stock.is_(None), table.c.stock >= quantity))
        .values(stock=table.c.stock - quantity)  # NULL (unlimited) stays NULL
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"reward {reward.id!r} has only {reward.stock} left", field="quantity")


def _queue_burn(session: Session, customer: Customer, request: RedemptionInput, points: int, now: datetime) -> int:
    ref = redemption_ref(customer.address, request.redemption_id)
    if customer.wallet is None:
        ensure_can_spend(session, customer, points, field="reward_id", custodial_only=True)
        return _id(enqueue(session, Redeem(account=customer.address, amount=points, ref=ref)))
    if request.permit is None:
        raise Unprocessable("the customer holds their own wallet: send a permit signed by it", field="permit")
    if request.permit.deadline <= int(now.timestamp()):
        raise Unprocessable("the permit has expired", field="permit.deadline")
    ensure_can_spend(session, customer, points, field="reward_id", custodial_only=False)
    permit = request.permit
    burn = RedeemWithPermit(
        account=active_address(customer),
        amount=points,
        ref=ref,
        deadline=permit.deadline,
        v=permit.v,
        r=permit.r,
        s=permit.s,
    )
    return _id(enqueue(session, burn))


def _id(operation: Operation) -> int:
    assert operation.id is not None  # flushed
    return operation.id


def redeem(session: Session, request: RedemptionInput, now: datetime | None = None) -> Outcome:
    """Redeem a reward: check stock and points, queue the burn, take the points from the lots."""
    now = now or utcnow()
    customer = get_customer(session, request.customer_id)
    customer_id = customer.id
    assert customer_id is not None
    members.lock(session, customer_id)  # one debit of a member at a time (a duplicate then finds the first)

    recorded = recorded_under(session, Redemption, customer_id=customer_id, redemption_id=request.redemption_id)
    return run_once(session, request, recorded, lambda digest: _redeem(session, customer, request, digest, now))


def _redeem(
    session: Session, customer: Customer, request: RedemptionInput, digest: str, now: datetime
) -> dict[str, Any]:
    """The redemption's burn, stock and lots (in ``run_once``'s savepoint); its answer."""
    assert customer.id is not None
    reward = get_reward(session, request.reward_id)
    if not reward.active:
        raise Conflict(f"reward {reward.id!r} is not offered any more", field="reward_id")
    points = reward.points_price * request.quantity
    if points > MAX_REDEMPTION_POINTS:
        raise Unprocessable("the redemption is too large", field="quantity")
    if reward.edition is not None:
        collectibles.ensure_in_stock(reward, request.quantity)
    operation_id = _queue_burn(session, customer, request, points, now)
    _take_stock(session, reward, request.quantity)
    if reward.edition is not None:
        collectibles.queue_mint(session, customer, reward, request.quantity)
    allocations, _ = members.take(session, customer.id, points)
    body = {
        "customer_id": request.customer_id,
        "redemption_id": request.redemption_id,
        "reward_id": reward.id,
        "quantity": request.quantity,
        "points": points,
        "status": "pending",
        "operation_id": operation_id,
    }
    session.add(
        Redemption(
            customer_id=customer.id,
            redemption_id=request.redemption_id,
            reward_id=reward.id,
            quantity=request.quantity,
            points=points,
            operation_id=operation_id,
            allocations=members.encode(allocations),
            request_hash=digest,
            response=json.dumps(body),
        )
    )
    return body


def redemptions_of(session: Session, customer: Customer, limit: int = 50) -> list[Redemption]:
    return list(
        session.exec(
            select(Redemption)
            .where(Redemption.customer_id == customer.id)
            .order_by(col(Redemption.id).desc())
            .limit(limit)
        ).all()
    )
