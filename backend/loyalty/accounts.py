"""Balances and history as the mirror shows them, plus what is still on its way to the chain.

A customer's points live at their custodial address, or at their own wallet once they claimed
one; both are summed, so a claim in flight never makes points look lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.chain.operations import CREDIT_KINDS, DEBIT_KINDS, Points, kind_of
from backend.db.models import ChainCursor, Customer, MirrorAccount, MirrorLedgerEntry, Operation, PointLot
from backend.db.types import utcnow
from backend.indexer.confirmed import View, mirror_point, unconfirmed_account_change
from backend.loyalty import members
from backend.loyalty.in_flight import (
    IN_FLIGHT,
    active_address,
    addresses_of,
    in_flight_sum,
    in_flight_transfers_in,
)
from backend.loyalty.program import current_rule_set


@dataclass(frozen=True)
class Balance:
    balance: int
    available: int
    pending: int
    debt: int
    tier: str
    address: str
    as_of_block: int
    self_custodied: bool = False
    qualifying_points: int = 0
    tier_grace_until: datetime | None = None
    next_expiry: dict[str, Any] | None = None
    confirmed_block: int = 0
    view: str = View.LATEST


def mirrored_block(session: Session) -> int:
    cursor = session.get(ChainCursor, "indexer")
    return cursor.block_number if cursor else 0


def confirmed(session: Session, customer: Customer) -> tuple[int, int, bool]:
    """Mirrored balance and debt over the customer's addresses, and whether they self-custody."""
    rows = session.exec(select(MirrorAccount).where(col(MirrorAccount.address).in_(addresses_of(customer)))).all()
    return (
        sum(r.balance for r in rows),
        sum(r.debt for r in rows),
        any(r.self_custodied for r in rows) or customer.wallet is not None,
    )


def available_points(session: Session, customer: Customer) -> int:
    """Confirmed points minus every debit still in flight: what the customer can spend now."""
    balance, _, _ = confirmed(session, customer)
    return max(balance - in_flight_sum(session, addresses_of(customer), DEBIT_KINDS), 0)


def _next_expiry(session: Session, customer_id: int) -> dict[str, Any] | None:
    lot = session.exec(
        select(PointLot.expires_at, func.sum(PointLot.remaining))
        .where(PointLot.customer_id == customer_id, col(PointLot.remaining) > 0, col(PointLot.expires_at).is_not(None))
        .group_by(col(PointLot.expires_at))
        .order_by(col(PointLot.expires_at))
        .limit(1)
    ).first()
    if lot is None or lot[0] is None:
        return None
    return {"at": lot[0].isoformat(), "points": int(lot[1])}


def balance_of(session: Session, customer: Customer, now: datetime | None = None, view: View = View.LATEST) -> Balance:
    assert customer.id is not None
    addresses = addresses_of(customer)
    balance, debt, self_custodied = confirmed(session, customer)
    debits = in_flight_sum(session, addresses, DEBIT_KINDS)
    pending = in_flight_sum(session, addresses, CREDIT_KINDS) + in_flight_transfers_in(session, customer.id)
    # The confirmed view leaves out what the mirror holds above the confirmed block: those
    # points count as pending (see backend/indexer/confirmed.py).
    point = mirror_point(session, view)
    for address in addresses:
        unconfirmed, unconfirmed_debt = unconfirmed_account_change(session, address, point)
        balance, debt, pending = balance - unconfirmed, debt - unconfirmed_debt, pending + max(0, unconfirmed)
    rules = current_rule_set(session)
    state = members.state_of(session, customer.id)
    tier = members.tier_name(state, rules) if rules else "member"
    qualifying = members.qualifying_points(session, customer.id, rules, now or utcnow()) if rules else 0
    return Balance(
        balance=balance,
        available=max(balance - debits, 0),
        pending=pending,
        debt=debt,
        tier=tier,
        address=active_address(customer),
        as_of_block=point.as_of_block,
        confirmed_block=point.confirmed_block,
        view=point.view,
        self_custodied=self_custodied,
        qualifying_points=qualifying,
        tier_grace_until=state.grace_until if state else None,
        next_expiry=_next_expiry(session, customer.id),
    )


def history_of(
    session: Session, customer: Customer, limit: int = 50, offset: int = 0, view: View = View.LATEST
) -> list[dict[str, Any]]:
    """Newest first: in-flight operations, then what the chain recorded (``unconfirmed`` above the
    view's block)."""
    addresses = addresses_of(customer)
    point = mirror_point(session, view)
    entries: list[dict[str, Any]] = []
    if offset == 0:
        in_flight = session.exec(
            select(Operation)
            .where(col(Operation.account).in_(addresses), col(Operation.status).in_(IN_FLIGHT))
            .order_by(col(Operation.id).desc())
        ).all()
        entries.extend(
            {
                "kind": op.kind,
                "amount": -op.amount if op.kind in DEBIT_KINDS else op.amount,
                "status": "pending",
                "operation_id": op.id,
                "ref": op.ref,
                "block_number": None,
                "tx_hash": op.tx_hash,
                "created_at": op.created_at.isoformat(),
            }
            for op in in_flight
            if kind_of(op.kind).points is not Points.NONE  # a wallet claim moves points, it changes none
        )
    rows = session.exec(
        select(MirrorLedgerEntry)
        .where(col(MirrorLedgerEntry.account).in_(addresses))
        .order_by(col(MirrorLedgerEntry.block_number).desc(), col(MirrorLedgerEntry.log_index).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    entries.extend(
        {
            "kind": row.kind,
            "amount": row.amount,
            "debt_change": row.debt_change,
            "status": "confirmed" if point.includes(row.block_number) else "unconfirmed",
            "operation_id": row.operation_id,
            "ref": row.ref,
            "counterparty": row.counterparty,
            "rule_version": row.rule_version,
            "block_number": row.block_number,
            "tx_hash": row.tx_hash,
            "log_index": row.log_index,
            "block_time": row.block_time,
        }
        for row in rows
    )
    return entries
