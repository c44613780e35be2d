"""The SQL side of the sender: which operations are ready, claiming them, recording signed
transactions before they are broadcast, and settling what the chain did with them.

Every function takes a session inside the caller's unit of work; the sender decides where the
transactions begin and end (the claim and the write-ahead record are one transaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Executable, Select, case, func, or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session

from backend.chain.operations import CONFIRMED_BY_RECEIPT
from backend.db.direct import bind, dialect_of, execute, fetch, ident, in_list, list_value, marker
from backend.db.models import ChainTransaction, Operation, OperationStatus
from backend.db.schema import table_of
from backend.db.types import utcnow

MAX_ATTEMPTS = 5


class TxStatus:
    BROADCAST = "broadcast"  # recorded (and maybe broadcast): outcome unknown
    MINED = "mined"
    REVERTED = "reverted"
    DROPPED = "dropped"  # its nonce went to another transaction: its operations were re-queued


@dataclass(frozen=True)
class OpenTx:
    """A recorded transaction whose outcome we are still waiting for."""

    hash: str
    signer: str
    sender: str
    nonce: int
    raw: str


@dataclass(frozen=True)
class PendingSummary:
    count: int
    unbatched: int  # operations that go alone, without waiting for company
    oldest: datetime | None


def pending_summary(session: Session, batched_kinds: frozenset[str]) -> PendingSummary:
    """How much is pending, cheaply: lets the sender sleep until a partial batch is due."""
    row = session.execute(_pending_summary_query(batched_kinds)).one()
    return PendingSummary(int(row[0]), int(row[1] or 0), row[2])  # min() keeps the column's type


@lru_cache(maxsize=8)
def _pending_summary_query(batched_kinds: frozenset[str]) -> Executable:
    # Statements the sender runs every round are built once (here and below): building a Core
    # statement (coercing each clause, aliasing a table's columns) cost more Python than running it.
    table = table_of(Operation)
    unbatched = case((table.c.kind.in_(sorted(batched_kinds)), 0), else_=1)
    return core_select(func.count(), func.sum(unbatched), func.min(table.c.created_at)).where(
        table.c.status == OperationStatus.PENDING
    )


def ready_operations(session: Session, limit: int) -> list[Operation]:
    """Pending operations whose dependency (if any) is confirmed, oldest first.

    Read as plain rows, not ORM objects: under load this runs for thousands of operations a
    second and the sender only reads their attributes (``operations.py``).
    """
    return cast(list[Operation], list(session.execute(_ready_query(limit)).all()))


@lru_cache(maxsize=8)
def _ready_query(limit: int) -> Select[Any]:
    table = table_of(Operation)
    dependency = table.alias("dependency")
    return (
        core_select(table)
        .outerjoin(dependency, table.c.depends_on == dependency.c.id)
        .where(
            table.c.status == OperationStatus.PENDING,
            or_(table.c.depends_on.is_(None), dependency.c.status == OperationStatus.CONFIRMED),
        )
        .order_by(table.c.id)
        .limit(limit)
    )


def claim(session: Session, ids: list[int]) -> set[int]:
    """Lock the still-pending operations among ``ids`` for this transaction; return their ids.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so several senders never take the same rows (rows
    another sender is recording are skipped, and once it commits they are no longer pending).
    SQLite: the sender's transaction began with ``BEGIN IMMEDIATE``, so it is the only writer
    and the status check alone is the claim (SQLite has no FOR UPDATE).
    """
    # Plain SQL with the list as one parameter (here and in ``record``): SQLAlchemy coerced and
    # bound each id of an IN list one by one, a fifth of the sender's Python work per purchase.
    table = table_of(Operation)
    dialect = dialect_of(session)
    lock = " FOR UPDATE SKIP LOCKED" if dialect.name == "postgresql" else ""
    sql = (
        f"SELECT {ident(dialect, 'id')} FROM {ident(dialect, table.name)}"  # noqa: S608
        f" WHERE {in_list(dialect, 'id')} AND {ident(dialect, 'status')} = {marker(dialect)}{lock}"
    )
    rows = fetch(session, sql, (list_value(dialect, ids), str(OperationStatus.PENDING)))
    return {int(row[0]) for row in rows}


def highest_live_nonce(session: Session, sender: str) -> int | None:
    """Highest nonce of a recorded transaction of ``sender`` that still holds its nonce."""
    table = table_of(ChainTransaction)
    value = session.execute(
        core_select(func.max(table.c.nonce)).where(table.c.sender == sender, table.c.status != TxStatus.DROPPED)
    ).scalar()
    return None if value is None else int(value)


def record(session: Session, tx: ChainTransaction, op_ids: list[int]) -> None:
    """Write-ahead: the signed transaction and its operations marked sent, before broadcast."""
    session.add(tx)
    table = table_of(Operation)
    dialect = dialect_of(session)
    p = marker(dialect)
    status, tx_hash, sent_at, attempts = (ident(dialect, c) for c in ("status", "tx_hash", "sent_at", "attempts"))
    sql = (
        f"UPDATE {ident(dialect, table.name)} SET {status} = {p}, {tx_hash} = {p}, {sent_at} = {p},"  # noqa: S608
        f" {attempts} = {attempts} + 1 WHERE {in_list(dialect, 'id')} AND {status} = {p}"
    )
    sent = bind(dialect, table, "sent_at", utcnow())
    params = (str(OperationStatus.SENT), tx.hash, sent, list_value(dialect, op_ids), str(OperationStatus.PENDING))
    execute(session, sql, params)


def open_transactions(session: Session, signer: str | None = None) -> list[OpenTx]:
    table = table_of(ChainTransaction)
    query = _open_query()
    if signer is not None:
        query = query.where(table.c.signer == signer)
    rows = session.execute(query.order_by(table.c.sender, table.c.nonce)).all()
    return [OpenTx(r.hash, r.signer, r.sender, int(r.nonce), r.raw) for r in rows]


@lru_cache(maxsize=1)
def _open_query() -> Select[Any]:
    table = table_of(ChainTransaction)
    return core_select(table.c.hash, table.c.signer, table.c.sender, table.c.nonce, table.c.raw).where(
        table.c.status == TxStatus.BROADCAST
    )


def in_flight_by_signer(session: Session) -> dict[str, int]:
    rows = session.execute(_in_flight_query()).all()
    return {str(r[0]): int(r[1]) for r in rows}


@lru_cache(maxsize=1)
def _in_flight_query() -> Select[Any]:
    table = table_of(ChainTransaction)
    return (
        core_select(table.c.signer, func.count()).where(table.c.status == TxStatus.BROADCAST).group_by(table.c.signer)
    )


def mined_but_unconfirmed(session: Session, sent_before: object) -> list[OpenTx]:
    """Transactions marked mined whose operations are still ``sent`` long after: after a
    reorganisation (or a chain restored from an older state) their block may be gone."""
    ops = table_of(Operation)
    txs = table_of(ChainTransaction)
    stale = core_select(ops.c.tx_hash).where(ops.c.status == OperationStatus.SENT, ops.c.sent_at < sent_before)
    rows = session.execute(
        core_select(txs.c.hash, txs.c.signer, txs.c.sender, txs.c.nonce, txs.c.raw)
        .where(txs.c.status != TxStatus.BROADCAST, txs.c.status != TxStatus.DROPPED, txs.c.hash.in_(stale))
        .order_by(txs.c.sender, txs.c.nonce)
    ).all()
    return [OpenTx(r.hash, r.signer, r.sender, int(r.nonce), r.raw) for r in rows]


def settle(session: Session, tx_hash: str, success: bool, block: int) -> None:
    """Record a receipt. Success: operations that no event confirms are confirmed now (the
    others wait for the indexer). Revert: back to pending, up to MAX_ATTEMPTS, then failed."""
    txs = table_of(ChainTransaction)
    session.execute(
        update(txs)
        .where(txs.c.hash == tx_hash)
        .values(status=TxStatus.MINED if success else TxStatus.REVERTED, mined_block=block)
    )
    ops = table_of(Operation)
    if success:
        session.execute(
            update(ops)
            .where(ops.c.tx_hash == tx_hash, ops.c.kind.in_(CONFIRMED_BY_RECEIPT), ops.c.status == OperationStatus.SENT)
            .values(status=OperationStatus.CONFIRMED, confirmed_block=block, confirmed_at=utcnow())
        )
    else:
        retry_or_fail = case((ops.c.attempts >= MAX_ATTEMPTS, OperationStatus.FAILED), else_=OperationStatus.PENDING)
        session.execute(
            update(ops)
            .where(ops.c.tx_hash == tx_hash, ops.c.status == OperationStatus.SENT)
            .values(status=retry_or_fail, last_error="transaction reverted")
        )


def reopen(session: Session, tx_hash: str) -> None:
    """A transaction we thought mined is not on the chain any more: wait for it again."""
    txs = table_of(ChainTransaction)
    session.execute(update(txs).where(txs.c.hash == tx_hash).values(status=TxStatus.BROADCAST, mined_block=None))


def drop(session: Session, hashes: Iterable[str], reason: str) -> None:
    """These transactions will never be mined (their nonce went to another transaction, or
    they sit behind a nonce gap): their unconfirmed operations go back to the queue."""
    hashes = list(hashes)
    if not hashes:
        return
    txs = table_of(ChainTransaction)
    session.execute(update(txs).where(txs.c.hash.in_(hashes)).values(status=TxStatus.DROPPED, error=reason))
    ops = table_of(Operation)
    session.execute(
        update(ops)
        .where(ops.c.tx_hash.in_(hashes), ops.c.status == OperationStatus.SENT)
        .values(status=OperationStatus.PENDING, tx_hash=None, last_error=reason)
    )


def set_status(session: Session, ids: list[int], status: str, error: str | None) -> None:
    """Set the status of operations the indexer has not confirmed: once its event is mirrored, an
    operation stays confirmed (only a reorganisation's rollback takes that back). The indexer may
    confirm between the sender's simulation and this update; overwriting would strand it."""
    table = table_of(Operation)
    session.execute(
        update(table)
        .where(table.c.id.in_(ids), table.c.status != OperationStatus.CONFIRMED)
        .values(status=status, last_error=error, attempts=table.c.attempts + 1)
    )
