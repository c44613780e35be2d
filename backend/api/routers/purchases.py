from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from backend.api.checkout import purchase_input, purchase_response
from backend.api.deps import SessionDep, app_state
from backend.api.policy import PURCHASE, READ_PURCHASE, Access
from backend.api.schemas.common import ERROR_RESPONSES, Slug
from backend.api.schemas.loyalty import PurchaseDetailOut, PurchaseIn, PurchaseOut
from backend.api.till import count_if_wrong
from backend.consent.till_codes import TillCodeRefused
from backend.errors import NotFound, Unprocessable
from backend.loyalty.purchases import find_purchase
from backend.loyalty.receipts import purchase_detail

router = APIRouter(prefix="/v1/purchases", tags=["purchases"], responses=ERROR_RESPONSES)


@router.post("", response_model=PurchaseOut, summary="Record a purchase and award its points")
async def create_purchase(body: PurchaseIn, access: Annotated[Access, Depends(PURCHASE)], request: Request) -> Response:
    """Answers at once with ``status: pending``; the award is sent to the chain in the background
    and the status becomes ``confirmed`` once the indexer has mirrored it. Sending the same
    request again returns the first answer; the same ``order_id`` with other content is a 409.
    Paying with points (``paid_with_points``) spends the customer's points: it needs the one-time
    code the customer shows (``customer_code``)."""
    # The common case is answered by ``backend.api.checkout`` before it gets here, the same way.
    if access.till_code is not None and body.paid_with_points == 0:
        raise Unprocessable("customer_code is only for purchases paid with points", field="customer_code")
    state = app_state(request)
    purchase = purchase_input(body, till_code=access.till_code, till_key=access.key_id)
    try:
        # Committed with the other purchases that arrived meanwhile (group commit), then answered.
        outcome = await state.purchases.submit(purchase)
    except TillCodeRefused as refused:
        await anyio.to_thread.run_sync(count_if_wrong, state, refused)
        raise
    return purchase_response(outcome)


@router.get("/{order_id}", response_model=PurchaseDetailOut, summary="A purchase, its status, and why it earned that")
def get_purchase(
    order_id: str,
    access: Annotated[Access, Depends(READ_PURCHASE)],
    session: SessionDep,
    store_id: Slug | None = Query(None, description="Defaults to the store of a checkout key."),
) -> dict[str, Any]:
    """``explanation`` shows how the points were computed (lines, multipliers, campaign, tier,
    rounding) and the rule set used, whose hash anyone can compare with ``ruleSetHash`` on chain.
    A checkout key reads its own store's purchases; a program key those of its retailer's stores."""
    store = access.store_id
    if store is None:
        raise Unprocessable("store_id is required with this key", field="store_id")
    purchase = find_purchase(session, store, order_id)
    if purchase is None:
        raise NotFound(f"order {order_id!r} is not recorded for store {store!r}", field="order_id")
    return purchase_detail(session, purchase)
