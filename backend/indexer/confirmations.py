"""Outbox confirmations: which operations the indexed events show done on chain.

What confirms each kind is said by the catalogue (``backend.chain.operations``): an event that
carries the outbox id (``operationId``), an event whose arguments give the operation's confirm
key, or any event of our contracts in the operation's transaction. Written in the indexer's
transaction, with the events; a reorganisation's rollback takes them back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlmodel import Session

from backend.chain.operations import KEY_EVENTS, OPERATION_ID_EVENTS
from backend.db.models import Operation, OperationStatus
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.indexer.decoder import DecodedEvent

CHUNK = 500  # values per IN list (SQLite allows 32,766 parameters per statement)


@dataclass
class Confirmations:
    """The block that confirms each operation, by outbox id and by confirm key."""

    ids: dict[int, int] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)


def confirmations_of(events: Iterable[DecodedEvent]) -> Confirmations:
    found = Confirmations()
    for event in events:
        name = (event.contract, event.name)
        if name in OPERATION_ID_EVENTS:
            found.ids[int(event.args["operationId"])] = event.block_number
        else:
            key_of = KEY_EVENTS.get(name)
            if key_of is not None:
                found.keys[key_of(event.args)] = event.block_number
    return found


def confirm_operations(session: Session, found: Confirmations, tx_hashes: dict[str, int]) -> None:
    """Mark outbox operations confirmed, by id, by confirm key, or by the transaction that applied them.

    Grouped by block into ``IN`` lists: a backfill confirms tens of thousands of operations per
    step, one statement per few hundred of them.
    """
    now = utcnow()
    table = table_of(Operation)
    open_statuses = [OperationStatus.PENDING, OperationStatus.SENT, OperationStatus.FAILED]
    for column, by_value in ((table.c.id, found.ids), (table.c.confirm_key, found.keys), (table.c.tx_hash, tx_hashes)):
        groups: dict[int, list[object]] = defaultdict(list)
        for value, block in by_value.items():
            groups[block].append(value)
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
