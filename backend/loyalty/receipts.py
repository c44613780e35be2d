"""What a purchase shows afterwards: its status, its refunds, and why it earned what it did."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from backend.db.models import Operation, OperationStatus, Purchase
from backend.loyalty.purchases import purchase_status
from backend.loyalty.refunds import refunds_of


def _status(session: Session, operation_id: int | None) -> str:
    if operation_id is None:
        return "confirmed"
    operation = session.get(Operation, operation_id)
    if operation is None or operation.status in (OperationStatus.PENDING, OperationStatus.SENT):
        return "pending"
    return str(operation.status)


def purchase_detail(session: Session, purchase: Purchase) -> dict[str, Any]:
    assert purchase.id is not None
    body: dict[str, Any] = json.loads(purchase.response)
    body["status"] = purchase_status(session, purchase)
    body["explanation"] = json.loads(purchase.explanation) if purchase.explanation else None
    refunds = refunds_of(session, purchase.id)
    body["refunds"] = [
        {
            "refund_id": r.refund_id,
            "points_reversed": r.points_reversed,
            "refunded_value": format(r.value.normalize(), "f"),
            "status": _status(session, r.operation_id),
            "operation_id": r.operation_id,
        }
        for r in refunds
    ]
    body["points_reversed"] = sum(r.points_reversed for r in refunds)
    return body
