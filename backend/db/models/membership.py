"""The loyalty program's own books, kept in SQL at request time: lots, tiers, refunds, the reward
catalog, redemptions, transfers and partner conversions.

The chain stays the truth for balances (the mirror shows it); these rows record *why* each
operation was queued, so that expiry, tiers and refunds can be computed and explained.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.db.types import BigIntId, DecimalText, time_column, utcnow


class MemberState(SQLModel, table=True):
    """A member's tier and the debt the platform expects on chain. No row: base tier, no debt."""

    __tablename__ = "member_states"

    customer_id: int = Field(sa_type=BigIntId, primary_key=True, foreign_key="customers.id")
    tier: str = Field(max_length=64)
    tier_since: datetime = Field(default_factory=utcnow, sa_column=time_column())
    grace_until: datetime | None = Field(default=None, sa_column=time_column(nullable=True))
    debt: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=time_column())


class PointLot(SQLModel, table=True):
    """Points credited together, expiring together. ``qualifying`` counts towards tiers."""

    __tablename__ = "point_lots"
    __table_args__ = (
        Index("ix_point_lots_customer_earned", "customer_id", "earned_at"),
        Index("ix_point_lots_expires_at", "expires_at"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    source: str = Field(max_length=16, description="purchase, partner or transfer")
    purchase_id: int | None = Field(default=None, sa_type=BigIntId, foreign_key="purchases.id", index=True)
    operation_id: int | None = Field(default=None, sa_type=BigIntId)
    earned_at: datetime = Field(default_factory=utcnow, sa_column=time_column())
    expires_at: datetime | None = Field(default=None, sa_column=time_column(nullable=True))
    amount: int = Field(sa_type=BigInteger, description="Credited after repaying debt.")
    remaining: int = Field(sa_type=BigInteger)
    expired: int = Field(default=0, sa_type=BigInteger)
    qualifying: int = Field(default=0, sa_type=BigInteger)


class TierEvent(SQLModel, table=True):
    __tablename__ = "tier_events"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id", index=True)
    kind: str = Field(max_length=24)
    from_tier: str = Field(max_length=64)
    to_tier: str = Field(max_length=64)
    qualifying: int = Field(sa_type=BigInteger)
    rule_version: int
    grace_until: datetime | None = Field(default=None, sa_column=time_column(nullable=True))
    at: datetime = Field(default_factory=utcnow, sa_column=time_column())


class CustomerSegment(SQLModel, table=True):
    """Segments an admin (or a segmentation job) assigned; campaigns target them."""

    __tablename__ = "customer_segments"

    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id", primary_key=True)
    segment: str = Field(max_length=64, primary_key=True)


class Refund(SQLModel, table=True):
    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("purchase_id", "refund_id", name="uq_refunds_purchase_refund"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    purchase_id: int = Field(sa_type=BigIntId, foreign_key="purchases.id")
    refund_id: str = Field(max_length=128)
    value: Decimal = Field(sa_column=Column(DecimalText, nullable=False))
    share: str = Field(max_length=80, description="Refunded share of the order after this refund (a fraction).")
    points_reversed: int = Field(sa_type=BigInteger)
    operation_id: int | None = Field(default=None, sa_type=BigIntId, foreign_key="operations.id")
    request_hash: str = Field(max_length=64)
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=time_column())


class RefundLine(SQLModel, table=True):
    __tablename__ = "refund_lines"

    refund_pk: int = Field(sa_type=BigIntId, foreign_key="refunds.id", primary_key=True)
    line_no: int = Field(primary_key=True)
    quantity: int


class Reward(SQLModel, table=True):
    __tablename__ = "rewards"
    __table_args__ = (UniqueConstraint("edition", name="uq_rewards_edition"),)

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=1000)
    points_price: int = Field(sa_type=BigInteger)
    stock: int | None = Field(default=None, sa_type=BigInteger, description="None: unlimited.")
    # A collectible reward: the edition minted to the member (CollectibleRewards); its cap was the stock.
    edition: int | None = Field(default=None, sa_type=BigInteger)
    # The brand whose event or poll the edition serves: its key may check tickets and open polls.
    organiser: str | None = Field(default=None, foreign_key="organisations.id", max_length=64)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=time_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=time_column())


class Redemption(SQLModel, table=True):
    __tablename__ = "redemptions"
    __table_args__ = (UniqueConstraint("customer_id", "redemption_id", name="uq_redemptions_customer_redemption"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    redemption_id: str = Field(max_length=128)
    reward_id: str = Field(foreign_key="rewards.id", max_length=64)
    quantity: int
    points: int = Field(sa_type=BigInteger)
    operation_id: int | None = Field(default=None, sa_type=BigIntId, foreign_key="operations.id")
    status: str = Field(default="accepted", max_length=16, description="accepted, or failed (undone)")
    allocations: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    request_hash: str = Field(max_length=64)
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=time_column())


class PointTransfer(SQLModel, table=True):
    __tablename__ = "point_transfers"
    __table_args__ = (
        UniqueConstraint("from_customer_id", "transfer_id", name="uq_point_transfers_sender_transfer"),
        Index("ix_point_transfers_sender_day", "from_customer_id", "day"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    from_customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    to_customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id", index=True)
    transfer_id: str = Field(max_length=128)
    amount: int = Field(sa_type=BigInteger)
    day: int = Field(description="UTC day number (days since 1970-01-01), as the contract counts caps.")
    operation_id: int | None = Field(default=None, sa_type=BigIntId, foreign_key="operations.id")
    status: str = Field(default="accepted", max_length=16, description="accepted, or failed (undone)")
    allocations: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    request_hash: str = Field(max_length=64)
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=time_column())


class Partner(SQLModel, table=True):
    """A coalition partner whose points convert into ours at ``rate`` (our points per theirs)."""

    __tablename__ = "partners"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    rate: Decimal = Field(sa_column=Column(DecimalText, nullable=False))
    max_points_per_conversion: int = Field(default=0, sa_type=BigInteger, description="0: no cap.")
    daily_cap_per_customer: int = Field(default=0, sa_type=BigInteger, description="0: no cap.")
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=time_column())


class PartnerConversion(SQLModel, table=True):
    __tablename__ = "partner_conversions"
    __table_args__ = (
        UniqueConstraint("partner_id", "conversion_id", name="uq_partner_conversions_partner_conversion"),
        Index("ix_partner_conversions_customer_day", "partner_id", "customer_id", "day"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    partner_id: str = Field(foreign_key="partners.id", max_length=64)
    conversion_id: str = Field(max_length=128)
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    partner_points: int = Field(sa_type=BigInteger)
    points: int = Field(sa_type=BigInteger)
    day: int
    operation_id: int | None = Field(default=None, sa_type=BigIntId, foreign_key="operations.id")
    request_hash: str = Field(max_length=64)
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=time_column())
