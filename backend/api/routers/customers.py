from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import BALANCE, ENROL, MEMBER_READ, Access
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.loyalty import BalanceOut, CustomerIn, CustomerOut, HistoryOut
from backend.indexer.confirmed import View, mirror_point
from backend.loyalty.accounts import balance_of, history_of
from backend.loyalty.customers import enrol, get_customer
from backend.loyalty.in_flight import active_address
from backend.loyalty.members import tier_events

BalanceAccess = Annotated[Access, Depends(BALANCE)]
MemberReader = Annotated[Access, Depends(MEMBER_READ)]
ViewQuery = Annotated[View, Query(description="`latest` (default) or `confirmed` (CREDANCE_CONFIRMATIONS deep).")]

router = APIRouter(prefix="/v1/customers", tags=["customers"], responses=ERROR_RESPONSES)


@router.post("", response_model=CustomerOut, summary="Enrol a customer (idempotent)")
def create_customer(body: CustomerIn, access: Annotated[Access, Depends(ENROL)], state: StateDep) -> dict:
    """Gives the customer a pseudonymous chain address. Name, e-mail and phone stay in SQL only
    (a till may write them when the customer signs up; only admins, and program keys the program
    allows, read them back). Enrolling someone already enrolled changes nothing."""
    with state.write() as session:
        customer, created = enrol(session, body.customer_id, body.name, body.email, body.phone)
        return {"customer_id": customer.external_id, "address": customer.address, "created": created}


@router.get("/{customer_id}/balance", response_model=BalanceOut, summary="Points of a customer")
def get_balance(customer_id: str, access: BalanceAccess, session: SessionDep, view: ViewQuery = View.LATEST) -> dict:
    """``balance`` is confirmed on chain; ``available`` is that minus debits still on their way (what
    can be spent now); ``pending`` is credits on their way; ``debt`` is owed after refunds of spent
    points; ``as_of_block`` is the block the answer reflects. ``view=confirmed`` leaves out what is
    not yet ``CREDANCE_CONFIRMATIONS`` blocks deep (it counts as pending)."""
    customer = get_customer(session, customer_id)
    balance = balance_of(session, customer, view=view)
    return {"customer_id": customer_id, **balance.__dict__}


@router.get("/{customer_id}/history", response_model=HistoryOut, summary="Ledger of a customer, newest first")
def get_history(
    customer_id: str,
    access: MemberReader,
    session: SessionDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
    view: ViewQuery = View.LATEST,
) -> dict:
    customer = get_customer(session, customer_id)
    assert customer.id is not None
    point = mirror_point(session, view)
    return {
        "customer_id": customer_id,
        "address": active_address(customer),
        "as_of_block": point.as_of_block,
        "confirmed_block": point.confirmed_block,
        "view": point.view,
        "entries": history_of(session, customer, limit=limit, offset=offset, view=view),
        "tier_events": tier_events(session, customer.id) if offset == 0 else [],
    }
