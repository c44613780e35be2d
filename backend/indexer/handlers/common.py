"""Pieces shared by the handlers: operation confirmation and rebuilding latest-value tables."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import update
from sqlmodel import Session, col, select

from backend.db.models import ChainEvent, Operation, OperationStatus
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.indexer.decoder import DecodedEvent

CHUNK = 500  # values per IN list (SQLite allows 32,766 parameters per statement)


def confirm_operations(session: Session, by_key: dict[str, int], tx_hashes: dict[str, int]) -> None:
    """Mark outbox operations confirmed, by their confirm key or by the transaction that applied them.

    Grouped by block into ``IN`` lists: a backfill confirms tens of thousands of operations per
    step, one statement per few hundred of them.
    """
    now = utcnow()
    table = table_of(Operation)
    open_statuses = [OperationStatus.PENDING, OperationStatus.SENT, OperationStatus.FAILED]
    ids: dict[int, list[int]] = defaultdict(list)
    keys: dict[int, list[str]] = defaultdict(list)
    for key, block in by_key.items():
        if key.startswith("op:"):
            ids[block].append(int(key[3:]))
        else:
            keys[block].append(key)
    hashes: dict[int, list[str]] = defaultdict(list)
    for tx_hash, block in tx_hashes.items():
        hashes[block].append(tx_hash)
    for column, groups in ((table.c.id, ids), (table.c.confirm_key, keys), (table.c.tx_hash, hashes)):
        for block, values in groups.items():
            for start in range(0, len(values), CHUNK):
                session.execute(
                    update(table)
                    .where(column.in_(values[start : start + CHUNK]), table.c.status.in_(open_statuses))
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
    return [_event(r) for r in rows]


def address_topic(address: str) -> str:
    """An address as it appears in an indexed topic (and in ``chain_events.topic1/2``)."""
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def events_about(
    session: Session, contract: str, addresses: Iterable[str], above_block: int = -1
) -> list[DecodedEvent]:
    """Stored events of ``contract`` (above a block) with one of ``addresses`` as first or second
    indexed topic, in chain order: everything that can have touched those accounts (two index
    lookups each)."""
    topics = sorted({address_topic(a) for a in addresses})
    found: dict[int, ChainEvent] = {}
    for start in range(0, len(topics), CHUNK):
        chunk = topics[start : start + CHUNK]
        for column in (col(ChainEvent.topic1), col(ChainEvent.topic2)):
            query = select(ChainEvent).where(
                column.in_(chunk), ChainEvent.contract == contract, ChainEvent.block_number > above_block
            )
            found.update((row.id, row) for row in session.exec(query).all() if row.id is not None)
    rows = sorted(found.values(), key=lambda r: (r.block_number, r.log_index))
    return [_event(r) for r in rows]


def _event(r: ChainEvent) -> DecodedEvent:
    topics = tuple(t for t in (r.topic1, r.topic2) if t is not None)
    return DecodedEvent(
        r.contract, r.name, json.loads(r.args), r.block_number, r.block_hash, r.tx_hash, r.log_index, topics
    )
