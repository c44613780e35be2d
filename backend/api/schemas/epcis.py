from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CapturedEvent(BaseModel):
    event_id: str
    event_hash: str
    type: str


class CaptureOut(BaseModel):
    captured: int
    status: str
    events: list[CapturedEvent]


class EventAnchorOut(BaseModel):
    """An event's anchor for a party that may read the event (backend/provenance/epcis/event_anchor.py)."""

    event_id: str
    event_hash: str = Field(description="CBV 2.0 event hash (ni URI): recompute it from the full event.")
    cbv_digest: str
    event_salt: str = Field(description="Secret salt of the commitment to the CBV hash: never in the public answer.")
    cbv_commitment: str = Field(description="keccak256(abi.encode(event_salt, cbv_digest)).")
    public_body: dict[str, Any] = Field(description="The event as the public answer shows it (items as tokens).")
    namespaces: dict[str, str]
    public_form: str
    public_hash: str = Field(description="sha256 of the public form.")
    anchored: str = Field(description="keccak256(abi.encode(cbv_commitment, public_hash)): isEventAnchored's hash.")
    leaf: str
    root: str | None = Field(description="The event batch's Merkle root (null until sealed).")
    merkle_proof: list[str] | None
    transaction: str | None = Field(description="The anchoring transaction (null until mirrored).")
    block_number: int | None
    organisation: dict[str, Any] | None
