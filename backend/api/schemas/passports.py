"""Item passports: a claim, a transfer, a passport as the chain says."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from backend.api.schemas.common import GtinText, Identifier, StrictModel

TokenId = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]


class PassportClaimIn(StrictModel):
    claim_id: Identifier = Field(description="The client's id of this claim: sent again, the first answer.")
    gtin: GtinText
    serial: Annotated[str, Field(min_length=1, max_length=20)]


class PassportTransferIn(StrictModel):
    transfer_id: Identifier = Field(description="The client's id of this transfer: sent again, the first answer.")
    to_customer_id: Identifier


class PassportQueued(BaseModel):
    token_id: str = Field(description="The item's leaf: the passport's ERC-721 token id, 0x-hex.")
    customer_id: str
    operation_id: int
    status: Literal["pending"] = Field(
        default="pending",
        description="Queued for the chain. The owner change enters the item's EPCIS history once the chain makes it.",
    )


class PassportOut(BaseModel):
    token_id: str
    gtin: str
    holder: str = Field(description="Pseudonymous address holding it (custodial or the member's wallet).")
    held_since: int = Field(description="Unix time of the block that gave it to its holder.")
    previous_owners: int
    issued_block: int
    proves_ownership: bool | None = Field(
        default=None, description="With a customer token: whether that member holds it (None without one)."
    )
    recalled: bool = Field(default=False, description="Whether a recall of its brand covers the item.")


class MemberPassportsOut(BaseModel):
    customer_id: str
    passports: list[PassportOut]
    pending: list[str] = Field(description="Token ids claimed and not yet issued on chain.")


class PassportChallengeOut(BaseModel):
    token_id: str
    nonce: str
    message: str = Field(description="The text to sign with the holding wallet (EIP-191 personal_sign).")
    expires_at: datetime


class PassportProofIn(StrictModel):
    nonce: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    signature: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]


class PassportProofOut(BaseModel):
    token_id: str
    proves_ownership: bool
    reason: str | None = Field(default=None, description="Why the signature proves nothing, when it does not.")


class PassportMetadataOut(BaseModel):
    """ERC-721 metadata JSON (the schema wallets and marketplaces read)."""

    name: str
    description: str
    external_url: str
    attributes: list[dict[str, Any]]
