"""Pieces shared by the handlers: operation confirmation and rebuilding latest-value tables."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import update
from sqlmodel import Session, col, select

from backend.db.models import ChainEvent, Operation, OperationStatus
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.indexer.decoder import DecodedEvent


def confirm_operations(session: Session, by_key: dict[str, int], tx_hashes: dict[str, int]) -> None:
    """Mark outbox operations confirmed, by their confirm key or by the transaction that applied them."""
    now = utcnow()
    table = table_of(Operation)
    pending = [OperationStatus.PENDING, OperationStatus.SENT, OperationStatus.FAILED]
    for key, block in by_key.items():
        match = table.c.id == int(key[3:]) if key.startswith("op:") else table.c.confirm_key == key
        session.execute(
            update(table)
            .where(match, table.c.status.in_(pending))
            .values(status=OperationStatus.CONFIRMED, confirmed_block=block, confirmed_at=now)
        )
    for tx_hash, block in tx_hashes.items():
        session.execute(
            update(table)
            .where(table.c.tx_hash == tx_hash, table.c.status.in_(pending))
            .values(status=OperationStatus.CONFIRMED, confirmed_block=block, confirmed_at=now)
        )


def unconfirm_operations(session: Session, above_block: int) -> None:
    table = table_of(Operation)
    session.execute(
        update(table)
        .where(table.c.confirmed_block > above_block)
        .values(status=OperationStatus.SENT, confirmed_block=None, confirmed_at=None)
    )


def stored_events(session: Session, names: Iterable[str] | None = None, above_block: int = -1) -> list[DecodedEvent]:
    """Events already in the mirror (of the given names, above a block), in chain order."""
    query = select(ChainEvent).where(ChainEvent.block_number > above_block)
    if names is not None:
        query = query.where(col(ChainEvent.name).in_(list(names)))
    rows = session.exec(query.order_by(col(ChainEvent.block_number), col(ChainEvent.log_index))).all()
    return [
        DecodedEvent(r.contract, r.name, json.loads(r.args), r.block_number, r.block_hash, r.tx_hash, r.log_index)
        for r in rows
    ]
