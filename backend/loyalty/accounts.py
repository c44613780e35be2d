"""Balances and history as the mirror shows them, plus what is still on its way to the chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.db.models import (
    ChainCursor,
    Customer,
    MirrorAccount,
    MirrorLedgerEntry,
    Operation,
    OperationStatus,
)

CREDIT_KINDS = ("award",)
IN_FLIGHT = (OperationStatus.PENDING, OperationStatus.SENT)


@dataclass(frozen=True)
class Balance:
    balance: int
    pending: int
    debt: int
    tier: str
    address: str
    as_of_block: int


def mirrored_block(session: Session) -> int:
    cursor = session.get(ChainCursor, "indexer")
    return cursor.block_number if cursor else 0


def balance_of(session: Session, customer: Customer) -> Balance:
    account = session.get(MirrorAccount, customer.address)
    pending = session.exec(
        select(func.coalesce(func.sum(Operation.amount), 0)).where(
            Operation.account == customer.address,
            col(Operation.kind).in_(CREDIT_KINDS),
            col(Operation.status).in_(IN_FLIGHT),
        )
    ).one()
    return Balance(
        balance=account.balance if account else 0,
        pending=int(pending),
        debt=account.debt if account else 0,
        tier="member",
        address=customer.address,
        as_of_block=mirrored_block(session),
    )


def history_of(session: Session, customer: Customer, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Newest first: in-flight operations, then what the chain recorded."""
    entries: list[dict[str, Any]] = []
    if offset == 0:
        in_flight = session.exec(
            select(Operation)
            .where(Operation.account == customer.address, col(Operation.status).in_(IN_FLIGHT))
            .order_by(col(Operation.id).desc())
        ).all()
        entries.extend(
            {
                "kind": op.kind, "amount": op.amount, "status": "pending", "operation_id": op.id,
                "ref": op.ref, "block_number": None, "tx_hash": op.tx_hash,
                "created_at": op.created_at.isoformat(),
            }
            for op in in_flight
        )  # fmt: skip
    rows = session.exec(
        select(MirrorLedgerEntry)
        .where(MirrorLedgerEntry.account == customer.address)
        .order_by(col(MirrorLedgerEntry.block_number).desc(), col(MirrorLedgerEntry.log_index).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    entries.extend(
        {
            "kind": row.kind, "amount": row.amount, "debt_change": row.debt_change, "status": "confirmed",
            "operation_id": row.operation_id, "ref": row.ref, "counterparty": row.counterparty,
            "rule_version": row.rule_version, "block_number": row.block_number, "tx_hash": row.tx_hash,
            "log_index": row.log_index, "block_time": row.block_time,
        }
        for row in rows
    )  # fmt: skip
    return entries
