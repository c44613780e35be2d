"""Item passports: a claim, a transfer, a passport as the chain says."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from backend.api.schemas.common import GtinText, Identifier, StrictModel

TokenId = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]


class PassportClaimIn(StrictModel):
    gtin: GtinText
    serial: Annotated[str, Field(min_length=1, max_length=20)]


class PassportTransferIn(StrictModel):
    to_customer_id: Identifier


class PassportQueued(BaseModel):
    token_id: str = Field(description="The item's leaf: the passport's ERC-721 token id, 0x-hex.")
    customer_id: str
    operation_id: int
    status: Literal["pending"] = "pending"


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


class MemberPassportsOut(BaseModel):
    customer_id: str
    passports: list[PassportOut]
    pending: list[str] = Field(description="Token ids claimed and not yet issued on chain.")
