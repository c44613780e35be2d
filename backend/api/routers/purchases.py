from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from backend.api.checkout import purchase_input, purchase_response
from backend.api.deps import PrincipalDep, SessionDep, app_state, check_store_access
from backend.api.schemas.common import ERROR_RESPONSES, Slug
from backend.api.schemas.loyalty import PurchaseDetailOut, PurchaseIn, PurchaseOut
from backend.api.scope import resolve_store
from backend.errors import NotFound
from backend.loyalty.purchases import find_purchase
from backend.loyalty.receipts import purchase_detail

router = APIRouter(prefix="/v1/purchases", tags=["purchases"], responses=ERROR_RESPONSES)


@router.post("", response_model=PurchaseOut, summary="Record a purchase and award its points")
async def create_purchase(body: PurchaseIn, principal: PrincipalDep, request: Request) -> Response:
    """Answers at once with ``status: pending``; the award is sent to the chain in the background
    and the status becomes ``confirmed`` once the indexer has mirrored it. Sending the same
    request again returns the first answer; the same ``order_id`` with other content is a 409."""
    # The common case is answered by ``backend.api.checkout`` before it gets here, the same way.
    check_store_access(principal, body.store_id)
    # Committed with the other purchases that arrived meanwhile (group commit), then answered.
    return purchase_response(await app_state(request).purchases.submit(purchase_input(body)))


@router.get("/{order_id}", response_model=PurchaseDetailOut, summary="A purchase, its status, and why it earned that")
def get_purchase(
    order_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store_id: Slug | None = Query(None, description="Defaults to the store of a checkout key."),
) -> dict:
    """``explanation`` shows how the points were computed (lines, multipliers, campaign, tier,
    rounding) and the rule set used, whose hash anyone can compare with ``ruleSetHash`` on chain."""
    store = resolve_store(principal, store_id)
    purchase = find_purchase(session, store, order_id)
    if purchase is None:
        raise NotFound(f"order {order_id!r} is not recorded for store {store!r}", field="order_id")
    return purchase_detail(session, purchase)
