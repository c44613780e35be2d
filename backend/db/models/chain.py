"""The durable outbox of chain writes and the indexer's own bookkeeping."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from backend.db.types import BigIntId, UTCDateTime, utcnow


class OperationStatus(StrEnum):
    PENDING = "pending"  # written with the request that caused it, not yet sent
    SENT = "sent"  # in a broadcast transaction
    CONFIRMED = "confirmed"  # its event is in the mirror
    FAILED = "failed"  # the chain refused it for good (reason in last_error)


class Operation(SQLModel, table=True):
    """One write to the chain, recorded in the same SQL transaction as the request that caused it.

    For loyalty operations ``id`` is also the on-chain ``operationId``, which the contract accepts
    once: whatever the sender retries, an operation applies at most once. The indexer marks it
    confirmed when it sees the event named by ``confirm_key``.
    """

    __tablename__ = "operations"
    __table_args__ = (
        Index("ix_operations_status_id", "status", "id"),
        # What a member has in flight (balance, history): equality on the account, then the status.
        Index("ix_operations_account_status", "account", "status"),
        Index("ix_operations_tx_hash", "tx_hash"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    kind: str = Field(max_length=32)
    signer: str = Field(max_length=80, description="issuer, admin, or org:<organisation id>")
    confirm_key: str | None = Field(
        default=None, max_length=120, unique=True, description="Event key; loyalty ops confirm by id."
    )
    account: str | None = Field(default=None, max_length=42)
    amount: int = Field(default=0, sa_type=BigInteger)
    ref: str | None = Field(default=None, max_length=66)
    rule_version: int | None = None
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    depends_on: int | None = Field(default=None, sa_type=BigIntId, description="Op to confirm first.")
    status: str = Field(default=OperationStatus.PENDING, max_length=16)
    tx_hash: str | None = Field(default=None, max_length=66)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    confirmed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    confirmed_block: int | None = Field(default=None, sa_type=BigInteger)


class ChainCursor(SQLModel, table=True):
    """How far the indexer got: written in the same transaction as the rows it produced.

    Besides the mirrored block it records what the indexer last saw of the chain (its head and
    the confirmation depth in force), so every process can tell the lag and the confirmed block
    from the database alone (``/readyz``, ``/metrics``, ``?view=confirmed``).
    """

    __tablename__ = "chain_cursor"

    name: str = Field(primary_key=True, max_length=32)
    chain_id: int
    deployment: str = Field(max_length=66, description="Fingerprint of the deployment mirrored.")
    block_number: int = Field(sa_type=BigInteger)
    block_hash: str = Field(max_length=66)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    head_block: int = Field(default=0, sa_type=BigInteger, description="Chain head at the last poll.")
    confirmations: int = Field(default=0, description="Depth after which a block counts as confirmed.")
    events_total: int = Field(default=0, sa_type=BigInteger, description="Events applied, ever (a counter).")
    reorgs_total: int = Field(default=0, description="Reorganisations rolled back, ever.")
    checked_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))

    @property
    def confirmed_block(self) -> int:
        """Highest mirrored block at least ``confirmations`` deep."""
        return max(0, min(self.block_number, self.head_block - self.confirmations))


class IndexedBlock(SQLModel, table=True):
    """Recent blocks the mirror reflects, to detect reorganisations by parent hash."""

    __tablename__ = "indexed_blocks"

    number: int = Field(primary_key=True, sa_type=BigInteger)
    hash: str = Field(max_length=66)
    parent_hash: str = Field(max_length=66)
    timestamp: int = Field(default=0, sa_type=BigInteger)


class ChainEvent(SQLModel, table=True):
    """Every decoded log of our contracts, keyed by where it happened."""

    __tablename__ = "chain_events"
    __table_args__ = (
        UniqueConstraint("block_hash", "tx_hash", "log_index", name="uq_chain_events_position"),
        Index("ix_chain_events_block", "block_number", "log_index"),
        Index("ix_chain_events_topic1", "topic1", "block_number"),
        Index("ix_chain_events_topic2", "topic2", "block_number"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    block_number: int = Field(sa_type=BigInteger)
    block_hash: str = Field(max_length=66)
    tx_hash: str = Field(max_length=66)
    log_index: int
    contract: str = Field(max_length=40)
    name: str = Field(max_length=40, index=True)
    args: str = Field(sa_column=Column(Text, nullable=False))
    block_time: int = Field(default=0, sa_type=BigInteger)
    # The first two indexed topics, raw: "every event about this address" is an index lookup
    # (exact rollback of an account after a reorganisation, the confirmed view of a balance).
    topic1: str | None = Field(default=None, max_length=66)
    topic2: str | None = Field(default=None, max_length=66)


class ChainTransaction(SQLModel, table=True):
    """A signed transaction, written before it is broadcast, so a restart can rebroadcast it
    or learn that it was dropped."""

    __tablename__ = "chain_transactions"
    __table_args__ = (
        Index("ix_chain_transactions_signer_nonce", "signer", "nonce"),
        Index("ix_chain_transactions_status", "status"),
        # One live transaction per (sender, nonce): two sender processes cannot record the same
        # nonce (the second insert fails and its round is retried). Dropped ones free theirs.
        Index(
            "uq_chain_transactions_live_nonce",
            "sender",
            "nonce",
            unique=True,
            sqlite_where=text("status != 'dropped'"),
            postgresql_where=text("status != 'dropped'"),
        ),
    )

    hash: str = Field(primary_key=True, max_length=66)
    signer: str = Field(max_length=80)
    sender: str = Field(max_length=42)
    nonce: int = Field(sa_type=BigInteger)
    raw: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="broadcast", max_length=16)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    mined_block: int | None = Field(default=None, sa_type=BigInteger)
