"""Collectible rewards: what a member holds, a ticket and its check at a door, polls and votes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt, StringConstraints

from backend.api.schemas.common import Identifier, StrictModel

Edition = Annotated[int, Field(ge=1, le=2**63 - 1)]
OptionLabel = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class HoldingOut(BaseModel):
    edition: int
    copies: int
    in_custody: int = Field(
        description="Copies the platform holds in custody for the member: those they may give through it."
    )
    reward_id: str | None
    name: str | None


class MemberCollectiblesOut(BaseModel):
    customer_id: str
    collectibles: list[HoldingOut]


class TicketIn(StrictModel):
    edition: StrictInt = Field(ge=1, le=2**63 - 1)


class TicketOut(BaseModel):
    ticket: str = Field(description="The signed code to show at the door (also as the QR image).")
    qr: str = Field(description="The code as an SVG image, a data: URI.")
    holder: str
    edition: int
    expires_in: int = Field(description="Seconds the code stays valid.")


class TicketCheckIn(StrictModel):
    ticket: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class TicketCheckOut(BaseModel):
    admitted: Literal[True] = True
    edition: int
    holder: str


class PollIn(StrictModel):
    edition: StrictInt = Field(ge=1, le=2**63 - 1)
    question: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    options: list[OptionLabel] = Field(min_length=2, max_length=20)
    blocks_open: StrictInt = Field(ge=1, le=10**7, description="Blocks the poll stays open after the current head.")


class TallyOut(BaseModel):
    poll_id: int
    edition: int
    snapshot_block: int
    close_block: int
    counts: list[int]
    eligible: int
    ignored: int


class PollOut(BaseModel):
    poll_id: int
    edition: int
    question: str
    options: list[str]
    close_block: int
    status: Literal["pending", "open on chain"]
    results: TallyOut | None


class VoteIn(StrictModel):
    option: StrictInt = Field(ge=0, le=19)


class VoteQueued(BaseModel):
    poll_id: int
    customer_id: str
    option: int
    operation_id: int
    status: Literal["pending"] = "pending"


class CollectibleTransferIn(StrictModel):
    transfer_id: Identifier = Field(description="The client's id of this transfer: sent again, the first answer.")
    to_customer_id: Identifier
    amount: StrictInt = Field(default=1, ge=1, le=2**63 - 1, description="Copies to give (held in custody).")


class CollectibleTransferQueued(BaseModel):
    customer_id: str = Field(description="The giver.")
    edition: int
    to_customer_id: str
    amount: int
    operation_id: int
    status: Literal["pending"] = "pending"


class EditionMetadataOut(BaseModel):
    """ERC-1155 metadata JSON (the schema wallets and marketplaces read)."""

    name: str
    description: str
    attributes: list[dict[str, Any]]
