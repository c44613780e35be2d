from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from backend.api.budget import RouteClass
from backend.api.deps import StateDep
from backend.api.policy import BALANCE, ENROL, MEMBER_READ, Access
from backend.api.reads import Answer
from backend.api.route_facts import declare
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.loyalty import BalanceOut, CustomerIn, CustomerOut, HistoryOut
from backend.indexer.confirmed import View
from backend.loyalty.customers import enrol

BalanceAccess = Annotated[Access, Depends(BALANCE)]
MemberReader = Annotated[Access, Depends(MEMBER_READ)]
ViewQuery = Annotated[View, Query(description="`latest` (default) or `confirmed` (CREDANCE_CONFIRMATIONS deep).")]

router = APIRouter(prefix="/v1/customers", tags=["customers"], responses=ERROR_RESPONSES)


@router.post("", response_model=CustomerOut, summary="Enrol a customer (idempotent)")
def create_customer(body: CustomerIn, access: Annotated[Access, Depends(ENROL)], state: StateDep) -> dict[str, Any]:
    """Gives the customer a pseudonymous chain address. Name, e-mail and phone stay in SQL only
    (a till may write them when the customer signs up; only admins, and program keys the program
    allows, read them back). Enrolling someone already enrolled changes nothing."""
    with state.write() as session:
        customer, created = enrol(session, body.customer_id, body.name, body.email, body.phone)
        return {"customer_id": customer.external_id, "address": customer.address, "created": created}


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `ETag` sent in `If-None-Match` is current"}
}


@router.get(
    "/{customer_id}/balance",
    response_model=BalanceOut,
    summary="Points of a customer",
    responses=NOT_MODIFIED,
    openapi_extra=declare(RouteClass.READS),
)
async def get_balance(
    customer_id: str, access: BalanceAccess, state: StateDep, request: Request, view: ViewQuery = View.LATEST
) -> Response:
    """``balance`` is confirmed on chain; ``available`` is that minus debits still on their way (what
    can be spent now); ``pending`` is credits on their way; ``debt`` is owed after refunds of spent
    points; ``as_of_block`` is the block the answer reflects. ``view=confirmed`` leaves out what is
    not yet ``CREDANCE_CONFIRMATIONS`` blocks deep (it counts as pending). Read on the read executor
    in one snapshot (``backend/api/reads.py``); ``ETag`` / ``If-None-Match`` give ``304``."""
    answer = await state.member_reads.balance(customer_id, view, request.headers.get("if-none-match"))
    return _sent(answer)


@router.get(
    "/{customer_id}/history",
    openapi_extra=declare(RouteClass.READS),
    response_model=HistoryOut,
    summary="Ledger of a customer, newest first",
    responses=NOT_MODIFIED,
)
async def get_history(
    customer_id: str,
    access: MemberReader,
    state: StateDep,
    request: Request,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
    view: ViewQuery = View.LATEST,
) -> Response:
    """In-flight operations first, then what the chain recorded, newest first; ``tier_events`` on
    the first page. Mirrored pages are cached by the indexer's block (``backend/api/reads.py``)."""
    answer = await state.member_reads.history(customer_id, view, limit, offset, request.headers.get("if-none-match"))
    return _sent(answer)


def _sent(answer: Answer) -> Response:
    headers = {"ETag": answer.etag, "Cache-Control": "private, no-cache"}
    if answer.body is None:
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type="application/json", headers=headers)
