"""Item passports (ERC-721, ``ItemPassports``): the claims members make, and the mirror of the
passports and of every change of their holder.

A passport's token id is the item's leaf (``0x`` + 64 hex digits), public like the item's token
on the verification page; the serial stays in ``items``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.db.types import BigIntId, UTCDateTime, utcnow


class PassportClaim(SQLModel, table=True):
    """A member's claim of the passport of an item they bought: one per item, ever (the token id
    is unique), queued as an ``issue_passport`` operation in the same unit of work. An idempotent
    command: recorded once per (member, ``claim_id``)."""

    __tablename__ = "passport_claims"
    __table_args__ = (UniqueConstraint("customer_id", "claim_id", name="uq_passport_claims_customer_claim"),)

    token_id: str = Field(primary_key=True, max_length=66)
    item_id: int = Field(sa_type=BigIntId, foreign_key="items.id", unique=True)
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id", index=True)
    purchase_id: int = Field(sa_type=BigIntId, foreign_key="purchases.id")
    operation_id: int = Field(sa_type=BigIntId, foreign_key="operations.id")
    claim_id: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class PassportTransfer(SQLModel, table=True):
    """A relayed transfer a member asked for (their consent), queued as ``relay_passport``. An
    idempotent command: recorded once per (giver, ``transfer_id``)."""

    __tablename__ = "passport_transfers"
    __table_args__ = (
        UniqueConstraint("from_customer_id", "transfer_id", name="uq_passport_transfers_sender_transfer"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    token_id: str = Field(foreign_key="passport_claims.token_id", max_length=66, index=True)
    from_customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    to_customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    operation_id: int = Field(sa_type=BigIntId, foreign_key="operations.id")
    transfer_id: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class MirrorPassport(SQLModel, table=True):
    """``PassportIssued``: append-only."""

    __tablename__ = "mirror_passports"

    token_id: str = Field(primary_key=True, max_length=66)
    gtin: str = Field(max_length=14, index=True)
    operation_id: int = Field(sa_type=BigInteger)
    block_number: int = Field(sa_type=BigInteger)
    block_time: int = Field(default=0, sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)


class MirrorPassportHolder(SQLModel, table=True):
    """Every ERC-721 ``Transfer`` of a passport (the mint included): who held it from when, and
    whether the chain holds it in custody after it. Append-only; the holder now is the last row
    of its token."""

    __tablename__ = "mirror_passport_holders"
    __table_args__ = (
        Index("ix_mirror_passport_holders_token", "token_id", "block_number", "log_index"),
        Index("ix_mirror_passport_holders_holder", "holder"),
    )

    block_number: int = Field(sa_type=BigInteger, primary_key=True)
    log_index: int = Field(primary_key=True)
    token_id: str = Field(max_length=66)
    previous: str = Field(max_length=42)
    holder: str = Field(max_length=42)
    block_time: int = Field(default=0, sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)
    # The contract's custody flag after this change (only a custodial passport is relayed): set by
    # a mint to a member's custodial address (the platform mints to those only with the flag) and
    # by a relay that says so (``PassportRelayed``); cleared by every other transfer.
    custodial: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


class PassportOwnerEvent(SQLModel, table=True):
    """The EPCIS owner-change event derived from a passport's ``Transfer`` log, keyed by the log's
    place: a log is captured once, however often it is applied (an indexer's restart, the replay
    of ``credance reconcile``), and a rollback finds the events of the blocks it takes back. Not a
    ``mirror_*`` table on purpose: reconcile rebuilds those from the chain, and rebuilding this one
    would capture every owner change again. ``event_pk`` is None when the item's history refused
    the event (``refused`` says why): the change stays in the holders, once."""

    __tablename__ = "passport_owner_events"

    block_number: int = Field(sa_type=BigInteger, primary_key=True)
    log_index: int = Field(primary_key=True)
    tx_hash: str = Field(max_length=66)
    token_id: str = Field(max_length=66)
    event_pk: int | None = Field(default=None, sa_type=BigIntId, foreign_key="epcis_events.id")
    refused: str | None = Field(default=None, max_length=500)


class PassportChallenge(SQLModel, table=True):
    """A challenge the server gave someone who wants to prove, with a wallet signature, that they
    hold a passport: for that passport only, short-lived, usable once (``used_at``)."""

    __tablename__ = "passport_challenges"

    __table_args__ = (Index("ix_passport_challenges_token_used", "token_id", "used_at"),)

    nonce: str = Field(primary_key=True, max_length=64)
    token_id: str = Field(max_length=66)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Once answered with a valid signature: who signed, and whether they held the passport (a
    # wallet that signs and does not hold it is a clone signal, backend/provenance/scans.py).
    signer: str | None = Field(default=None, max_length=42)
    proved: bool | None = None
