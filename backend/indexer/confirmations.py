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
from backend.db.direct import bind, dialect_of, execute, ident, in_list, list_value, marker
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
    table = table_of(Operation)
    dialect = dialect_of(session)
    now = bind(dialect, table, "confirmed_at", utcnow())
    open_statuses = [OperationStatus.PENDING, OperationStatus.SENT, OperationStatus.FAILED]
    # Plain SQL on the driver, the list as one parameter: SQLAlchemy coerced and bound each value
    # of the IN list one by one, the larger part of the indexer's Python work per confirmation.
    p = marker(dialect)
    for column, by_value in (("id", found.ids), ("confirm_key", found.keys), ("tx_hash", tx_hashes)):
        groups: dict[int, list[object]] = defaultdict(list)
        for value, block in by_value.items():
            groups[block].append(value)
        sql = (
            f"UPDATE {ident(dialect, table.name)} SET {ident(dialect, 'status')} = {p},"  # noqa: S608
            f" {ident(dialect, 'confirmed_block')} = {p}, {ident(dialect, 'confirmed_at')} = {p}"
            f" WHERE {in_list(dialect, column)} AND {in_list(dialect, 'status')}"
        )
        for block, values in groups.items():
            for start in range(0, len(values), CHUNK):
                chunk = values[start : start + CHUNK]
                params = (str(OperationStatus.CONFIRMED), block, now, list_value(dialect, chunk))
                execute(session, sql, (*params, list_value(dialect, map(str, open_statuses))))


def unconfirm_operations(session: Session, above_block: int) -> None:
    table = table_of(Operation)
    session.execute(
        update(table)
        .where(table.c.confirmed_block > above_block)
        .values(status=OperationStatus.SENT, confirmed_block=None, confirmed_at=None)
    )
