from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool

from backend.api.schemas.common import GtinText, Slug, StrictModel

RoleName = Literal["brand", "manufacturer", "distributor", "retailer"]
Serial = Annotated[str, Field(min_length=1, max_length=20)]


class OrganisationIn(StrictModel):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    roles: list[RoleName] = Field(min_length=1, max_length=4)


class OrganisationOut(BaseModel):
    id: str
    name: str
    roles: list[str]
    chain_id: str
    controller: str
    status: str
    on_chain: dict[str, Any] | None = None
    partners: list[dict[str, Any]] = []
    company_prefixes: list[str] = []


class OrganisationUpdate(StrictModel):
    roles: list[RoleName] | None = Field(default=None, max_length=4)
    active: StrictBool | None = None


class PrefixIn(StrictModel):
    prefix: Annotated[str, Field(pattern=r"^\d{6,12}$", description="GS1 company prefix, leading zeros kept.")]


class PartnerIn(StrictModel):
    partner_id: Slug
    roles: list[RoleName] = Field(max_length=4)


class ProductIn(StrictModel):
    gtin: GtinText
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    category: str | None = Field(default=None, max_length=64)


class ProductOut(BaseModel):
    gtin: str
    brand_id: str
    name: str
    description: str
    category: str | None
    status: str


class ItemsIn(StrictModel):
    gtin: GtinText
    serials: list[Serial] = Field(min_length=1, max_length=100_000)
    lot: Serial | None = None


class ItemsOut(BaseModel):
    gtin: str
    root: str
    count: int
    status: str


class RecallIn(StrictModel):
    gtin: GtinText
    reason: str = Field(min_length=1, max_length=500)
    serials: list[Serial] | None = Field(default=None, max_length=100_000, description="Recall these serials…")
    lot: Serial | None = Field(default=None, description="… or this lot; neither: the whole GTIN.")


class RecallOut(BaseModel):
    gtin: str
    scope_root: str
    count: int
    reason: str
    lot: str | None = None
    whole_gtin: bool = False


class VerificationOut(BaseModel):
    verdict: Literal["authentic", "unknown", "recalled", "suspicious"]
    reason: str
    reasons: list[str] = []
    gtin: str
    serial: str
    digital_link: str
    as_of_block: int
    confirmed_block: int
    view: Literal["latest", "confirmed"]
    product: dict[str, Any] | None
    item: dict[str, Any] | None = None
    trail: list[dict[str, Any]]
    proof: dict[str, Any] | None
    scan_signals: dict[str, Any] | None = None
    passport: dict[str, Any] | None = Field(
        default=None,
        description="The item's passport, once claimed: owned since (held_since), owners, where its holder proves it.",
    )
    recall_notices: list[dict[str, Any]] = Field(
        default=[],
        description="Other brands' recalls of items this one was packed with or made from: they do "
        "not recall this item (only its own brand can), the verdict does not change.",
    )


class RecallScopeOut(BaseModel):
    recall_id: int = Field(description="Recall id on chain (RecallIssued).")
    brand: str = Field(description="Chain id (bytes32) of the recalling brand; the scope counts for its GTINs only.")
    scope_root: str = Field(description="Merkle root on chain (zero: the whole GTIN, see isGtinRecalled).")
    gtins: list[str]
    leaves: list[str] = Field(description="itemLeaf(gtin, commitment) of every item in the scope, in tree order.")
