"""What of a customer's points is still on its way to the chain (operations are queued with
``backend.chain.operations.enqueue``; which kinds credit or debit points is said there)."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.chain.operations import ClaimWallet
from backend.db.models import Customer, Operation, OperationStatus, PointTransfer

IN_FLIGHT = (OperationStatus.PENDING, OperationStatus.SENT)


def addresses_of(customer: Customer) -> list[str]:
    """Every address that holds or held the customer's points: custodial, then their wallet."""
    return [customer.address] + ([customer.wallet] if customer.wallet else [])


def active_address(customer: Customer) -> str:
    """Where new operations go: the wallet once the customer claimed one."""
    return customer.wallet or customer.address


def in_flight_claim(session: Session, customer: Customer) -> Operation | None:
    return session.exec(
        select(Operation).where(
            Operation.kind == ClaimWallet.kind,
            Operation.account == customer.address,
            col(Operation.status).in_(IN_FLIGHT),
        )
    ).first()


def in_flight_sum(session: Session, addresses: list[str], kinds: tuple[str, ...]) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(Operation.amount), 0)).where(
            col(Operation.account).in_(addresses), col(Operation.kind).in_(kinds), col(Operation.status).in_(IN_FLIGHT)
        )
    ).one()
    return int(total)


def in_flight_transfers_in(session: Session, customer_id: int) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(PointTransfer.amount), 0))
        .join(Operation, col(Operation.id) == PointTransfer.operation_id)
        .where(PointTransfer.to_customer_id == customer_id, col(Operation.status).in_(IN_FLIGHT))
    ).one()
    return int(total)


def has_in_flight(session: Session, customer: Customer) -> bool:
    return (
        session.exec(
            select(Operation.id)
            .where(col(Operation.account).in_(addresses_of(customer)), col(Operation.status).in_(IN_FLIGHT))
            .limit(1)
        ).first()
        is not None
    )
