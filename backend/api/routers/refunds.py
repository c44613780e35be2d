"""Refunds of purchases: the refunded share of the order's points is reversed, once per refund id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from backend.api.deps import StateDep
from backend.api.policy import REFUND, Access
from backend.api.replays import answered
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.program import RefundIn, RefundOut
from backend.errors import Unprocessable
from backend.loyalty.refunds import RefundInput, RefundLineInput, record_refund

router = APIRouter(prefix="/v1/purchases", tags=["refunds"], responses=ERROR_RESPONSES)


@router.post("/{order_id}/refunds", response_model=RefundOut, summary="Refund lines or an amount of a purchase")
def create_refund(
    order_id: str, body: RefundIn, access: Annotated[Access, Depends(REFUND)], state: StateDep, response: Response
) -> dict[str, Any]:
    """Reverses the refunded share of the points the order earned (see docs/architecture.md, "Refunds"). Points
    the customer already spent become a debt that later awards repay. Sending the same refund again
    returns the first answer; the same ``refund_id`` with other content is a 409. A checkout key
    refunds its own store's purchases only."""
    if access.store_id is None:
        raise Unprocessable("store_id is required with this key", field="store_id")
    request = RefundInput(
        store_id=access.store_id,
        order_id=order_id,
        refund_id=body.refund_id,
        lines=None if body.lines is None else [RefundLineInput(li.sku, li.quantity) for li in body.lines],
        amount=body.amount,
    )
    with state.write() as session:
        outcome = record_refund(session, request)
    return answered(outcome, response)
