"""Off-chain loyalty records: stores, customers (and their erasable personal data), purchases."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.db.types import BigIntId, DecimalText, UTCDateTime, utcnow


class Store(SQLModel, table=True):
    __tablename__ = "stores"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    currency: str = Field(max_length=3)
    retailer_id: str = Field(foreign_key="retailers.id", max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Customer(SQLModel, table=True):
    """A member of the program: the retailer's customer id and a pseudonymous chain address.

    The address is random (nobody holds a key for it): the platform operates it as custodian
    until the customer claims a wallet of their own.
    """

    __tablename__ = "customers"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    external_id: str = Field(max_length=128, unique=True)
    address: str = Field(max_length=42, unique=True)
    wallet: str | None = Field(default=None, max_length=42)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class CustomerProfile(SQLModel, table=True):
    """Personal data, kept apart from the ledger so that it can be erased on request."""

    __tablename__ = "customer_profiles"

    customer_id: int = Field(sa_type=BigIntId, primary_key=True, foreign_key="customers.id")
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)


class Purchase(SQLModel, table=True):
    __tablename__ = "purchases"
    __table_args__ = (UniqueConstraint("store_id", "order_id", name="uq_purchases_store_order"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    store_id: str = Field(foreign_key="stores.id", max_length=64)
    order_id: str = Field(max_length=128)
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id", index=True)
    currency: str = Field(max_length=3)
    total: Decimal = Field(sa_column=Column(DecimalText, nullable=False))
    points_awarded: int = Field(sa_type=BigInteger)
    rule_version: int
    operation_id: int | None = Field(default=None, sa_type=BigIntId, foreign_key="operations.id")
    paid_with_points: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})
    redemption_operation_id: int | None = Field(
        default=None, sa_type=BigIntId, foreign_key="operations.id", description="Burn of the points paid."
    )
    explanation: str | None = Field(
        default=None, sa_column=Column(Text, nullable=True), description="How the points were computed."
    )
    request_hash: str = Field(max_length=64, description="Digest of the request, to tell replays apart.")
    response: str = Field(sa_column=Column(Text, nullable=False), description="First answer, replayed.")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class PurchaseLine(SQLModel, table=True):
    __tablename__ = "purchase_lines"

    purchase_id: int = Field(sa_type=BigIntId, foreign_key="purchases.id", primary_key=True)
    line_no: int = Field(primary_key=True)
    sku: str = Field(max_length=64)
    quantity: int
    unit_price: Decimal = Field(sa_column=Column(DecimalText, nullable=False))
    category: str | None = Field(default=None, max_length=64)
    gtin: str | None = Field(default=None, max_length=14)
    serial: str | None = Field(default=None, max_length=20)
    points: int = Field(default=0, sa_type=BigInteger)


class RuleSetRecord(SQLModel, table=True):
    """A version of the earning rules, with the content whose hash is published on chain."""

    __tablename__ = "rule_sets"

    version: int = Field(primary_key=True)
    content: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str = Field(max_length=66)
    operation_id: int | None = Field(default=None, sa_type=BigIntId, foreign_key="operations.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
