"""Capture jobs: what became of each captured document (the EPCIS 2.0 REST binding's
``GET /capture/{captureID}``), with the header it was sent with."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from backend.db.models import EpcisCapture
from backend.errors import NotFound


def capture_job(session: Session, capture_id: str, viewer_org: str | None) -> EpcisCapture:
    """The capture, for the organisation that sent it (or an admin: ``viewer_org`` None); another
    organisation's is not found (its existence is not confirmed either)."""
    capture = session.get(EpcisCapture, capture_id)
    if capture is None or (viewer_org is not None and capture.org_id != viewer_org):
        raise NotFound(f"no capture {capture_id!r}", field="capture_id")
    return capture


def job_view(capture: EpcisCapture) -> dict[str, Any]:
    return {
        "capture_id": capture.id,
        "status": capture.status,
        "events": capture.events,
        "created_at": capture.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z",
        "header": json.loads(capture.header) if capture.header else None,
        "problems": json.loads(capture.problems) if capture.problems else [],
    }
