"""Refunds of purchases: the refunded share of the order's points is reversed, once per refund id."""

from __future__ import annotations

from fastapi import APIRouter, Response

from backend.api.deps import PrincipalDep, StateDep
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.program import RefundIn, RefundOut
from backend.api.scope import resolve_store
from backend.loyalty.refunds import RefundInput, RefundLineInput, record_refund

router = APIRouter(prefix="/v1/purchases", tags=["refunds"], responses=ERROR_RESPONSES)


@router.post("/{order_id}/refunds", response_model=RefundOut, summary="Refund lines or an amount of a purchase")
def create_refund(order_id: str, body: RefundIn, principal: PrincipalDep, state: StateDep, response: Response) -> dict:
    """Reverses the refunded share of the points the order earned (see README, "Refunds"). Points
    the customer already spent become a debt that later awards repay. Sending the same refund again
    returns the first answer; the same ``refund_id`` with other content is a 409."""
    store_id = resolve_store(principal, body.store_id)
    request = RefundInput(
        store_id=store_id,
        order_id=order_id,
        refund_id=body.refund_id,
        lines=None if body.lines is None else [RefundLineInput(li.sku, li.quantity) for li in body.lines],
        amount=body.amount,
    )
    with state.write() as session:
        outcome = record_refund(session, request)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return outcome.body
