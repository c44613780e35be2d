from __future__ import annotations

from pydantic import BaseModel


class CapturedEvent(BaseModel):
    event_id: str
    event_hash: str
    type: str


class CaptureOut(BaseModel):
    captured: int
    status: str
    events: list[CapturedEvent]
