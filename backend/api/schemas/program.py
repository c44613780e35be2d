"""Request and response models of the loyalty program: rule sets, refunds, rewards, redemptions,
transfers, partners, members and reports."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, StringConstraints, model_validator

from backend.api.schemas.common import Address, Identifier, Slug, StrictModel

Points = Annotated[StrictInt, Field(gt=0, le=10**12)]
Money = Annotated[Decimal, Field(gt=0, le=Decimal("1000000000000"), max_digits=17, decimal_places=4)]
Hex32 = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]
Signature = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]
Segment = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
Status = Literal["pending", "confirmed", "failed"]
TillCodeText = Annotated[str, StringConstraints(pattern=r"^[0-9]{8}$")]


# -- rule sets ----------------------------------------------------------------------------


class Publication(BaseModel):
    status: str
    onchain_hash: str | None
    block_number: int | None
    tx_hash: str | None
    matches: bool = Field(description="The hash on chain equals the hash of the content shown here.")


class RuleSetOut(BaseModel):
    version: int
    content_hash: str
    created_at: datetime
    publication: Publication
    content: dict[str, Any] | None = None


class RuleSetCreated(RuleSetOut):
    created: bool = Field(description="False when the document equals the rules in force (nothing published).")


# -- refunds ------------------------------------------------------------------------------


class RefundLineIn(StrictModel):
    sku: Identifier = Field(max_length=64)
    quantity: StrictInt = Field(gt=0, le=1_000_000)


class RefundIn(StrictModel):
    refund_id: Identifier
    store_id: Slug | None = Field(default=None, description="Defaults to the store of a checkout key.")
    lines: list[RefundLineIn] | None = Field(default=None, min_length=1, max_length=1000)
    amount: Money | None = None


class RefundOut(BaseModel):
    order_id: str
    store_id: str
    refund_id: str
    points_reversed: int
    points_reversed_total: int
    points_awarded: int
    refunded_value: str
    status: Status
    operation_id: int | None


# -- rewards and redemptions --------------------------------------------------------------


class CollectibleIn(StrictModel):
    """A collectible reward: copies of a limited edition (CollectibleRewards), its cap fixed for ever."""

    edition: StrictInt = Field(ge=1, le=2**63 - 1, description="The edition's number (its ERC-1155 id).")
    cap: StrictInt = Field(ge=1, le=10**9, description="Copies that may ever exist (the reward's stock).")
    organiser: Slug | None = Field(
        default=None, description="The organisation whose event or poll it serves: its key checks tickets, opens polls."
    )


class RewardIn(StrictModel):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=1000)
    points_price: Points
    stock: StrictInt | None = Field(default=None, ge=0, le=10**9, description="Omit for unlimited.")
    collectible: CollectibleIn | None = Field(default=None, description="Omit for a reward that is not an edition.")


class RewardPatch(StrictModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    points_price: Points | None = None
    stock: StrictInt | None = Field(default=None, ge=0, le=10**9)
    active: StrictBool | None = None


class RewardOut(BaseModel):
    id: str
    name: str
    description: str
    points_price: int
    stock: int | None
    active: bool
    kind: Literal["goods", "collectible"] = "goods"
    edition: int | None = None

    @model_validator(mode="after")
    def _kind_of_its_edition(self) -> RewardOut:
        self.kind = "goods" if self.edition is None else "collectible"
        return self


class PermitIn(StrictModel):
    """ERC-2612 permit signed by the customer's wallet for exactly the points of the redemption,
    with the token contract as spender."""

    deadline: StrictInt = Field(gt=0, lt=2**64)
    v: StrictInt = Field(ge=27, le=28)
    r: Hex32
    s: Hex32


class RedemptionIn(StrictModel):
    redemption_id: Identifier
    reward_id: Slug
    quantity: StrictInt = Field(default=1, gt=0, le=1000)
    permit: PermitIn | None = None
    customer_code: TillCodeText | None = Field(
        default=None, description="At a till (checkout key): the one-time code the customer shows."
    )


class RedemptionOut(BaseModel):
    customer_id: str
    redemption_id: str
    reward_id: str
    quantity: int
    points: int
    status: Status
    operation_id: int | None


# -- transfers ----------------------------------------------------------------------------


class TransferIn(StrictModel):
    transfer_id: Identifier
    to_customer_id: Identifier
    amount: Points


class TransferOut(BaseModel):
    transfer_id: str
    from_customer_id: str
    to_customer_id: str
    amount: int
    status: Status
    operation_id: int | None


class TransferPolicyIn(StrictModel):
    enabled: StrictBool
    daily_cap: StrictInt = Field(ge=0, le=10**15, description="Most points a member may send per UTC day; 0: no cap.")


class TransferPolicyOut(BaseModel):
    enabled: bool
    daily_cap: int
    as_of_block: int
    pending: TransferPolicyIn | None = Field(default=None, description="A change on its way to the chain.")


# -- partners -----------------------------------------------------------------------------


class PartnerIn(StrictModel):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    rate: Annotated[Decimal, Field(gt=0, le=1000, max_digits=12, decimal_places=6)] = Field(
        description="Our points per partner point."
    )
    max_points_per_conversion: StrictInt = Field(default=0, ge=0, le=10**12)
    daily_cap_per_customer: StrictInt = Field(default=0, ge=0, le=10**12)


class PartnerPatch(StrictModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    rate: Annotated[Decimal, Field(gt=0, le=1000, max_digits=12, decimal_places=6)] | None = None
    max_points_per_conversion: StrictInt | None = Field(default=None, ge=0, le=10**12)
    daily_cap_per_customer: StrictInt | None = Field(default=None, ge=0, le=10**12)
    active: StrictBool | None = None


class PartnerOut(BaseModel):
    id: str
    name: str
    rate: Decimal
    max_points_per_conversion: int
    daily_cap_per_customer: int
    active: bool


class ConversionIn(StrictModel):
    conversion_id: Identifier
    customer_id: Identifier
    partner_points: Points


class ConversionOut(BaseModel):
    partner_id: str
    conversion_id: str
    customer_id: str
    partner_points: int
    rate: str
    points_awarded: int
    rule_version: int
    status: Status
    operation_id: int | None


# -- members ------------------------------------------------------------------------------


class CustomerDetailOut(BaseModel):
    customer_id: str
    address: str
    wallet: str | None
    tier: str
    segments: list[str]
    name: str | None
    email: str | None
    phone: str | None
    personal_data: Literal["shown", "withheld", "erased"] = Field(
        description="`withheld`: this key may not read name, e-mail and phone (they are null)."
    )
    erased_at: datetime | None


class WalletClaimIn(StrictModel):
    wallet: Address
    nonce: StrictInt = Field(ge=0, le=2**63 - 1, description="The member's claim nonce, from GET …/wallet-claim.")
    expiry: StrictInt = Field(gt=0, le=2**63 - 1, description="Unix time after which the signed claim is void.")
    signature: Signature = Field(description="The wallet's EIP-712 signature of the WalletClaim typed data.")


class WalletClaimOut(BaseModel):
    customer_id: str
    custodial_address: str
    wallet: str
    status: Status
    operation_id: int | None


class TypedDataOut(BaseModel):
    """EIP-712 typed data, as ``eth_signTypedData_v4`` takes it."""

    types: dict[str, list[dict[str, str]]]
    primary_type: str = Field(alias="primaryType")
    domain: dict[str, Any]
    message: dict[str, Any]

    model_config = {"populate_by_name": True}


class SegmentsIn(StrictModel):
    segments: list[Segment] = Field(max_length=100)


class ErasureOut(BaseModel):
    customer_id: str
    address: str
    erased_at: datetime


# -- reports and maintenance --------------------------------------------------------------


class LiabilityOut(BaseModel):
    outstanding_points: int
    point_value: str
    outstanding_value: str
    pending_points: int
    pending_debits: int
    debt_points: int
    expiring_within_30_days: int
    as_of_block: int
    rule_version: int | None


class DailyPoints(BaseModel):
    day: date
    issued: int
    debt_repaid: int
    reversed: int
    debt_incurred: int
    redeemed: int
    expired: int
    transferred: int


class DailyOut(BaseModel):
    first: date
    last: date
    days: list[DailyPoints]


class MaintenanceOut(BaseModel):
    expired_points: int
    expiry_operations: int
    tier_changes: int
    undone: int
