"""Item passports: the buyer claims the passport of an item they bought, gives it to another
member, lists what they hold; anyone reads a passport's ownership facts
(``backend/provenance/passports.py``; docs/passports.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from backend.api.auth import Principal, Role
from backend.api.deps import SessionDep, StateDep
from backend.api.policy import BALANCE, PASSPORT, PUBLIC_HOLDER, Access
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.passports import (
    MemberPassportsOut,
    PassportClaimIn,
    PassportOut,
    PassportQueued,
    PassportTransferIn,
    TokenId,
)
from backend.errors import NotFound
from backend.loyalty.customers import find_customer, get_customer
from backend.provenance import passports
from backend.provenance.passports import Ownership

router = APIRouter(tags=["passports"], responses=ERROR_RESPONSES)


def _out(owner: Ownership, proves: bool | None = None) -> dict[str, Any]:
    return {
        "token_id": owner.token_id,
        "gtin": owner.gtin,
        "holder": owner.holder,
        "held_since": owner.held_since,
        "previous_owners": owner.previous_owners,
        "issued_block": owner.issued_block,
        "proves_ownership": proves,
    }


@router.post(
    "/v1/customers/{customer_id}/passports",
    response_model=PassportQueued,
    status_code=202,
    summary="Claim the passport of an item bought",
)
def claim(
    customer_id: str, body: PassportClaimIn, access: Annotated[Access, Depends(PASSPORT)], state: StateDep
) -> dict[str, Any]:
    """Queues the passport (ERC-721) of a registered item this member bought, to their address.
    Only the buyer (the purchase whose sale of the item was recorded), once per item, ever."""
    with state.write() as session:
        queued = passports.claim_passport(session, customer_id, body.gtin, body.serial)
        return {"token_id": queued.token_id, "customer_id": customer_id, "operation_id": queued.operation_id}


@router.post(
    "/v1/customers/{customer_id}/passports/{token_id}/transfers",
    response_model=PassportQueued,
    status_code=202,
    summary="Give a passport to another member",
)
def transfer(
    customer_id: str,
    token_id: TokenId,
    body: PassportTransferIn,
    access: Annotated[Access, Depends(PASSPORT)],
    state: StateDep,
) -> dict[str, Any]:
    """Queues the relayed transfer of a passport the member holds in custody (a resale). A passport
    in the member's own wallet moves with that wallet (an ERC-721 transfer it signs)."""
    with state.write() as session:
        queued = passports.transfer_passport(session, customer_id, token_id, body.to_customer_id)
        return {"token_id": queued.token_id, "customer_id": body.to_customer_id, "operation_id": queued.operation_id}


@router.get(
    "/v1/customers/{customer_id}/passports", response_model=MemberPassportsOut, summary="Passports a member holds"
)
def owned(customer_id: str, access: Annotated[Access, Depends(BALANCE)], session: SessionDep) -> dict[str, Any]:
    customer = get_customer(session, customer_id)
    return {
        "customer_id": customer_id,
        "passports": [_out(owner, True) for owner in passports.owned_by(session, customer)],
        "pending": [c.token_id for c in passports.pending_claims(session, customer)],
    }


@router.get("/v1/passports/{token_id}", response_model=PassportOut, summary="A passport: owned since, previous owners")
def read(
    token_id: TokenId, caller: Annotated[Principal | None, Depends(PUBLIC_HOLDER)], session: SessionDep
) -> dict[str, Any]:
    """Public: who holds it (a pseudonymous address), since when, how many held it before. With the
    member's customer token, whether that member holds it: a scan by its owner."""
    owner = passports.ownership(session, token_id.lower())
    if owner is None:
        raise NotFound("no passport issued with this id", field="token_id")
    proves = None
    if caller is not None and caller.role == Role.CUSTOMER and caller.customer_id is not None:
        member = find_customer(session, caller.customer_id)
        proves = member is not None and passports.holds(member, owner)
    return _out(owner, proves)
