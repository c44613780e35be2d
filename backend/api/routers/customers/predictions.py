"""A member's predictions and recommendations (``backend/predictive``): read by admins, the
program's keys and the member's own token (scope ``read``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from backend.api.deps import SessionDep
from backend.api.policy import PREDICTIONS_READ, Access
from backend.api.schemas.common import ERROR_RESPONSES
from backend.loyalty.customers import get_customer
from backend.predictive import views

router = APIRouter(tags=["predictions"], responses=ERROR_RESPONSES)
ReadAccess = Annotated[Access, Depends(PREDICTIONS_READ)]


@router.get("/v1/customers/{customer_id}/predictions", summary="A member's predictions, explained")
def get_predictions(customer_id: str, access: ReadAccess, session: SessionDep) -> dict[str, Any]:
    """The member's figures in the latest published run, with the inputs and model parameters
    behind them and why they are (or, in the control group, would be) in each segment."""
    return views.member_predictions(session, get_customer(session, customer_id))


@router.get("/v1/customers/{customer_id}/recommendations", summary="What a member is likely to buy")
def get_recommendations(
    customer_id: str,
    access: ReadAccess,
    session: SessionDep,
    level: str = Query("sku", pattern="^(sku|category)$"),
    limit: int = Query(10, ge=1, le=50),
) -> dict[str, Any]:
    """Buy-again, then items bought by the members who bought the member's, then popular items."""
    return views.member_recommendations(session, get_customer(session, customer_id), level, limit)
