from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from backend.api.schemas.common import Currency, GtinText, Identifier, Slug, StrictModel

Money = Annotated[Decimal, Field(ge=0, le=Decimal("1000000000"), max_digits=16, decimal_places=4)]


class PurchaseLineIn(StrictModel):
    sku: Identifier = Field(max_length=64)
    quantity: int = Field(gt=0, le=1_000_000)
    unit_price: Money
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


class PurchaseOut(BaseModel):
    order_id: str
    store_id: str
    customer_id: str
    points_awarded: int
    rule_version: int
    status: Literal["pending", "confirmed", "failed"]
    operation_id: int | None


class CustomerIn(StrictModel):
    customer_id: Identifier
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9 ().-]{3,39}$")


class CustomerOut(BaseModel):
    customer_id: str
    address: str
    created: bool


class BalanceOut(BaseModel):
    customer_id: str
    balance: int
    pending: int
    debt: int
    tier: str
    address: str
    as_of_block: int


class HistoryEntry(BaseModel):
    kind: str
    amount: int
    status: Literal["pending", "confirmed"]
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


class HistoryOut(BaseModel):
    customer_id: str
    address: str
    as_of_block: int
    entries: list[HistoryEntry]


class StoreIn(StrictModel):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    currency: Currency


class StoreOut(BaseModel):
    id: str
    name: str
    currency: str
