from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from backend.api.schemas.common import Currency, GtinText, Identifier, Slug, StrictModel

Money = Annotated[Decimal, Field(ge=0, le=Decimal("1000000000"), max_digits=16, decimal_places=4)]
Price = Annotated[Decimal, Field(gt=0, le=Decimal("1000000000"), max_digits=16, decimal_places=4)]


class PurchaseLineIn(StrictModel):
    sku: Identifier = Field(max_length=64)
    quantity: int = Field(gt=0, le=1_000_000)
    unit_price: Price
    category: Identifier | None = Field(default=None, max_length=64)
    gtin: GtinText | None = None
    serial: Annotated[str, Field(min_length=1, max_length=20)] | None = None


class PurchaseIn(StrictModel):
    order_id: Identifier
    customer_id: Identifier
    store_id: Slug
    currency: Currency
    lines: list[PurchaseLineIn] = Field(min_length=1, max_length=1000)
    paid_with_points: int = Field(default=0, ge=0, le=10**12)
    customer_code: Annotated[str, Field(pattern=r"^[0-9]{8}$")] | None = Field(
        default=None, description="With points paid: the one-time code the customer shows at the till."
    )


class PurchaseOut(BaseModel):
    order_id: str
    store_id: str
    customer_id: str
    points_awarded: int
    paid_with_points: int = 0
    rule_version: int
    status: Literal["pending", "confirmed", "failed"]
    operation_id: int | None


class PurchaseRefundOut(BaseModel):
    refund_id: str
    points_reversed: int
    refunded_value: str
    status: Literal["pending", "confirmed", "failed"]
    operation_id: int | None


class PurchaseDetailOut(PurchaseOut):
    """The purchase, the status of its award, and why it earned what it did."""

    points_reversed: int = 0
    explanation: dict[str, Any] | None = Field(
        default=None, description="Per-line breakdown, multipliers, campaign, rounding, rule version and hash."
    )
    refunds: list[PurchaseRefundOut] = Field(default_factory=list)


class CustomerIn(StrictModel):
    customer_id: Identifier
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9 ().-]{3,39}$")


class CustomerOut(BaseModel):
    customer_id: str
    address: str
    created: bool


class NextExpiry(BaseModel):
    at: str
    points: int


class BalanceOut(BaseModel):
    customer_id: str
    balance: int = Field(description="Confirmed on chain (mirror).")
    available: int = Field(description="Confirmed minus debits still on their way: what can be spent now.")
    pending: int = Field(description="Credits on their way to the chain.")
    debt: int
    tier: str
    qualifying_points: int = Field(description="Points earned in the tier window, net of refunds.")
    tier_grace_until: datetime | None = None
    next_expiry: NextExpiry | None = None
    address: str
    self_custodied: bool
    as_of_block: int = Field(description="Block this answer reflects (the confirmed block in the confirmed view).")
    confirmed_block: int = Field(description="Highest mirrored block with CREDANCE_CONFIRMATIONS blocks on top.")
    view: Literal["latest", "confirmed"]


class HistoryEntry(BaseModel):
    kind: str
    amount: int
    status: Literal["pending", "unconfirmed", "confirmed"]
    operation_id: int | None = None
    ref: str | None = None
    debt_change: int | None = None
    counterparty: str | None = None
    rule_version: int | None = None
    block_number: int | None = None
    block_time: int | None = None
    tx_hash: str | None = None
    log_index: int | None = None
    created_at: str | None = None


class TierEventOut(BaseModel):
    kind: str
    from_tier: str
    to_tier: str
    qualifying: int
    rule_version: int
    grace_until: datetime | None
    at: datetime


class HistoryOut(BaseModel):
    customer_id: str
    address: str
    as_of_block: int
    confirmed_block: int
    view: Literal["latest", "confirmed"]
    entries: list[HistoryEntry]
    tier_events: list[TierEventOut] = Field(default_factory=list, description="Tier changes, newest first.")


class StoreIn(StrictModel):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    currency: Currency
    retailer_id: Slug = Field(description="The retailer that runs the store (POST /v1/retailers).")


class StoreOut(BaseModel):
    id: str
    name: str
    currency: str
    retailer_id: str
