"""The rows of the API's lists (``backend/api/routers/lists.py``, queries in ``backend/lists.py``)
and their page envelope: ``items`` and ``next`` (the relative URL of the next page, null on the last)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

NEXT = Field(description="Relative URL of the next page (also in the Link header); null on the last page.")


class CustomerRow(BaseModel):
    customer_id: str
    address: str
    self_custodied: bool
    tier: str | None
    created_at: datetime
    erased: bool
    name: str | None = None
    email: str | None = None


class CustomerPage(BaseModel):
    items: list[CustomerRow]
    next: str | None = NEXT


class PurchaseRow(BaseModel):
    order_id: str
    store_id: str
    customer_id: str
    total: str
    currency: str
    points_awarded: int
    paid_with_points: int
    status: Literal["pending", "confirmed", "failed"]
    created_at: datetime


class PurchasePage(BaseModel):
    items: list[PurchaseRow]
    next: str | None = NEXT


class OrganisationRow(BaseModel):
    id: str
    name: str
    roles: list[str]
    active: bool
    created_at: datetime


class OrganisationPage(BaseModel):
    items: list[OrganisationRow]
    next: str | None = NEXT


class ProductRow(BaseModel):
    gtin: str
    brand_id: str
    name: str
    category: str | None
    created_at: datetime


class ProductPage(BaseModel):
    items: list[ProductRow]
    next: str | None = NEXT


class RecallRow(BaseModel):
    id: int = Field(description="This platform's id of the recall (the on-chain id is in RecallIssued).")
    gtin: str
    brand_id: str
    reason: str
    lot: str | None
    whole_gtin: bool
    count: int
    scope_root: str
    created_at: datetime


class RecallPage(BaseModel):
    items: list[RecallRow]
    next: str | None = NEXT


class ApiKeyRow(BaseModel):
    key_id: str
    role: str
    store_id: str | None
    org_id: str | None
    retailer_id: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyPage(BaseModel):
    items: list[ApiKeyRow]
    next: str | None = NEXT


class AuditRow(BaseModel):
    id: int
    at: datetime
    key_id: str
    role: str
    org_id: str | None
    console_session: str | None = Field(description="The console session's public id; null for an API call.")
    method: str
    route: str = Field(description="The route template.")
    path_ids: dict[str, str] = Field(description="The ids in the path (references, never personal data).")
    status: int
    outcome: Literal["done", "refused", "failed"]


class AuditPage(BaseModel):
    items: list[AuditRow]
    next: str | None = NEXT
