"""Member-to-member transfers under the on-chain policy (switch and daily cap per sender).

The policy in force is the one the mirror shows (``TransferPolicyUpdated``), so the API refuses
exactly what the contract would refuse, before anything is queued. Transferred points keep their
expiry dates: the sender's soonest-expiring lots move into lots of the recipient with the same date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.chain.operations import SetTransferPolicy, Transfer, enqueue
from backend.db.models import Customer, MirrorTokenState, Operation, OperationStatus, PointTransfer
from backend.db.types import utcnow
from backend.errors import Conflict, NotFound, Unprocessable
from backend.loyalty import members
from backend.loyalty.customers import find_customer, get_customer
from backend.loyalty.idempotency import IdempotentCommand, Outcome, recorded_under, run_once
from backend.loyalty.in_flight import active_address
from backend.loyalty.program import rules_in_force
from backend.loyalty.refs import transfer_ref
from backend.loyalty.spending import ensure_can_spend

SECONDS_PER_DAY = 86_400


def day_number(at: datetime) -> int:
    """The contract's day: ``block.timestamp / 1 days``."""
    return int(at.timestamp()) // SECONDS_PER_DAY


@dataclass(frozen=True)
class TransferPolicy:
    enabled: bool
    daily_cap: int  # 0: no cap


def policy_in_force(session: Session) -> TransferPolicy:
    state = session.get(MirrorTokenState, 1)
    return TransferPolicy(bool(state and state.member_transfers_enabled), state.daily_transfer_cap if state else 0)


def set_policy(session: Session, enabled: bool, daily_cap: int) -> Operation:
    """Queue ``setTransferPolicy`` (admin key); it is in force once mirrored."""
    return enqueue(session, SetTransferPolicy(enabled=enabled, daily_cap=daily_cap))


def pending_policy(session: Session) -> Operation | None:
    return session.exec(
        select(Operation)
        .where(
            Operation.kind == SetTransferPolicy.kind,
            col(Operation.status).in_([OperationStatus.PENDING, OperationStatus.SENT]),
        )
        .order_by(col(Operation.id).desc())
    ).first()


def sent_on(session: Session, customer_id: int, day: int) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(PointTransfer.amount), 0)).where(
            PointTransfer.from_customer_id == customer_id, PointTransfer.day == day, PointTransfer.status == "accepted"
        )
    ).one()
    return int(total)


@dataclass(frozen=True)
class TransferInput(IdempotentCommand):
    noun = "transfer"
    id_field = "transfer_id"

    from_customer_id: str
    to_customer_id: str
    transfer_id: str
    amount: int


def _check_policy(session: Session, sender_id: int, amount: int, day: int) -> None:
    policy = policy_in_force(session)
    if not policy.enabled:
        raise Conflict("member-to-member transfers are switched off", field="amount")
    if policy.daily_cap:
        left = max(policy.daily_cap - sent_on(session, sender_id, day), 0)
        if amount > left:
            raise Unprocessable(
                f"the daily transfer cap is {policy.daily_cap} points; {left} left today", field="amount"
            )


def transfer(session: Session, request: TransferInput, now: datetime | None = None) -> Outcome:
    """Give points to another member, once per (sender, transfer id)."""
    now = now or utcnow()
    sender = get_customer(session, request.from_customer_id)
    sender_id = sender.id
    assert sender_id is not None
    members.lock(session, sender_id)  # one debit of a member at a time (a duplicate then finds the first)

    recorded = recorded_under(session, PointTransfer, from_customer_id=sender_id, transfer_id=request.transfer_id)
    return run_once(session, request, recorded, lambda digest: _transfer(session, sender, request, digest, now))


def _transfer(session: Session, sender: Customer, request: TransferInput, digest: str, now: datetime) -> dict[str, Any]:
    """The transfer's operation and lots (in ``run_once``'s savepoint); its answer."""
    assert sender.id is not None
    if request.to_customer_id == request.from_customer_id:
        raise Unprocessable("a member cannot transfer points to themselves", field="to_customer_id")
    recipient = find_customer(session, request.to_customer_id)
    if recipient is None:
        raise NotFound(f"customer {request.to_customer_id!r} is not enrolled", field="to_customer_id")
    assert recipient.id is not None
    day = day_number(now)
    _check_policy(session, sender.id, request.amount, day)
    ensure_can_spend(session, sender, request.amount, field="amount", custodial_only=True)

    to_address = active_address(recipient)
    gift = Transfer(
        account=sender.address,
        amount=request.amount,
        ref=transfer_ref(sender.address, request.transfer_id),
        to=to_address,
    )
    operation = enqueue(session, gift)
    _, rules = rules_in_force(session)
    allocations, _ = members.take(session, sender.id, request.amount)
    for lot in members.lots_of(session, allocations):
        moved = dict(allocations)[lot.id]  # type: ignore[index]
        members.credit(
            session,
            recipient.id,
            moved,
            "transfer",
            rules,
            now,
            repay=False,
            operation_id=operation.id,
            keep_expiry=True,
            expires_at=lot.expires_at,
        )
    body = {
        "transfer_id": request.transfer_id,
        "from_customer_id": request.from_customer_id,
        "to_customer_id": request.to_customer_id,
        "amount": request.amount,
        "status": "pending",
        "operation_id": operation.id,
    }
    session.add(
        PointTransfer(
            from_customer_id=sender.id,
            to_customer_id=recipient.id,
            transfer_id=request.transfer_id,
            amount=request.amount,
            day=day,
            operation_id=operation.id,
            allocations=members.encode(allocations),
            request_hash=digest,
            response=json.dumps(body),
        )
    )
    return body
