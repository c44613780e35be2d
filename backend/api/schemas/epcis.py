from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CapturedEvent(BaseModel):
    event_id: str
    event_hash: str
    type: str
    erroneous: bool = Field(False, description="Captured with an errorDeclaration: kept, no longer counted.")


class CaptureOut(BaseModel):
    captured: int
    status: str
    capture_id: str = Field(description="GET /v1/epcis/captures/{capture_id}: the capture and its header.")
    events: list[CapturedEvent]


class CaptureJobOut(BaseModel):
    capture_id: str
    status: str = Field(description="accepted or rejected (a document is captured whole or not at all).")
    events: int
    created_at: str
    header: dict[str, Any] | None = Field(description="epcisHeader as sent (standard business document header).")
    problems: list[dict[str, Any]]


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
