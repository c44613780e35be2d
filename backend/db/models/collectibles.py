"""Collectible rewards (ERC-1155, ``CollectibleRewards``): the polls brands open, the votes and
transfers the platform relays, the tickets checked at a door, and the mirror of editions, copies
moved, copies held in custody, polls and votes.

Editions and polls are numbers; holders are pseudonymous addresses (custodial or the member's
wallet). Nothing here names a person but through ``customer_id``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.db.types import BigIntId, UTCDateTime, utcnow


class CollectiblePoll(SQLModel, table=True):
    """A poll a brand opened for an edition's holders (its question and options in clear; the
    chain keeps only their number), queued as ``open_poll``."""

    __tablename__ = "collectible_polls"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)  # the poll id on chain
    edition: int = Field(sa_type=BigInteger, index=True)
    question: str = Field(max_length=500)
    options: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of labels
    close_block: int = Field(sa_type=BigInteger)
    operation_id: int | None = Field(default=None, sa_type=BigIntId, foreign_key="operations.id")  # set once queued
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class CollectibleVote(SQLModel, table=True):
    """A custodial member's vote the platform relays (their consent), once per poll and member."""

    __tablename__ = "collectible_votes"
    __table_args__ = (UniqueConstraint("poll_id", "customer_id", name="uq_collectible_votes_poll_customer"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    poll_id: int = Field(sa_type=BigIntId, foreign_key="collectible_polls.id")
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    option: int
    operation_id: int = Field(sa_type=BigIntId, foreign_key="operations.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class CollectibleTransfer(SQLModel, table=True):
    """Copies held in custody a member gives to another (their consent), queued as
    ``relay_collectible_transfer``. An idempotent command: recorded once per (giver, ``transfer_id``)."""

    __tablename__ = "collectible_transfers"
    __table_args__ = (
        UniqueConstraint("from_customer_id", "transfer_id", name="uq_collectible_transfers_sender_transfer"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    from_customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    to_customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    edition: int = Field(sa_type=BigInteger)
    amount: int = Field(sa_type=BigInteger)
    operation_id: int = Field(sa_type=BigIntId, foreign_key="operations.id", index=True)
    transfer_id: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class TicketCheck(SQLModel, table=True):
    """A ticket QR used at a door: its nonce, once, ever."""

    __tablename__ = "ticket_checks"

    nonce: str = Field(primary_key=True, max_length=64)
    edition: int = Field(sa_type=BigInteger)
    holder: str = Field(max_length=42)
    checked_by: str = Field(max_length=64)  # the key's id (a store or staff key)
    checked_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class MirrorEdition(SQLModel, table=True):
    """``EditionCreated``: append-only."""

    __tablename__ = "mirror_collectible_editions"

    edition: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    cap: int = Field(sa_type=BigInteger)
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)


class MirrorCollectibleMove(SQLModel, table=True):
    """Every copy moved (ERC-1155 ``TransferSingle``, and each id of a ``TransferBatch``; a mint
    comes from the zero address). Append-only; a holder's copies are what came in minus what went
    out."""

    __tablename__ = "mirror_collectible_moves"
    __table_args__ = (
        Index("ix_mirror_collectible_moves_holder", "holder", "edition"),
        Index("ix_mirror_collectible_moves_previous", "previous", "edition"),
    )

    block_number: int = Field(sa_type=BigInteger, primary_key=True)
    log_index: int = Field(primary_key=True)
    position: int = Field(default=0, primary_key=True)  # the id's place in a TransferBatch
    edition: int = Field(sa_type=BigInteger)
    previous: str = Field(max_length=42)
    holder: str = Field(max_length=42)
    amount: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)


class MirrorCollectibleCustody(SQLModel, table=True):
    """Every change of the copies an address holds in custody (``custodialBalanceOf``): a custodial
    mint adds (``CollectiblesMinted``), a relay takes from its giver and adds to a custodial
    receiver (``CollectiblesRelayed``: positions 0 and 1), a transfer the holder signed releases
    (``CustodyReleased``). Append-only; an address's copies in custody are the sum of its changes."""

    __tablename__ = "mirror_collectible_custody"
    __table_args__ = (Index("ix_mirror_collectible_custody_holder", "holder", "edition"),)

    block_number: int = Field(sa_type=BigInteger, primary_key=True)
    log_index: int = Field(primary_key=True)
    position: int = Field(default=0, primary_key=True)
    holder: str = Field(max_length=42)
    edition: int = Field(sa_type=BigInteger)
    change: int = Field(sa_type=BigInteger)  # copies into custody (> 0) or out of it (< 0)


class MirrorPoll(SQLModel, table=True):
    """``PollOpened``: append-only."""

    __tablename__ = "mirror_polls"

    poll_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    edition: int = Field(sa_type=BigInteger)
    options: int
    snapshot_block: int = Field(sa_type=BigInteger)
    close_block: int = Field(sa_type=BigInteger)
    block_number: int = Field(sa_type=BigInteger)


class MirrorVote(SQLModel, table=True):
    """``PollVoted``: append-only (the contract accepts one per address and poll)."""

    __tablename__ = "mirror_votes"
    __table_args__ = (Index("ix_mirror_votes_poll", "poll_id", "voter"),)

    block_number: int = Field(sa_type=BigInteger, primary_key=True)
    log_index: int = Field(primary_key=True)
    poll_id: int = Field(sa_type=BigInteger)
    voter: str = Field(max_length=42)
    option: int
    operation_id: int = Field(sa_type=BigInteger)
