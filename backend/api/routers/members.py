"""A member's profile, their own wallet, their personal data (erasable) and their segments."""

from __future__ import annotations

from fastapi import APIRouter, Query

from backend.api.deps import AdminDep, CustomerReaderDep, SessionDep, StateDep
from backend.api.schemas.common import ERROR_RESPONSES, Address
from backend.api.schemas.program import (
    ClaimMessageOut,
    CustomerDetailOut,
    ErasureOut,
    SegmentsIn,
    WalletClaimIn,
    WalletClaimOut,
)
from backend.loyalty import members
from backend.loyalty.customers import claim_message, claim_wallet, erase_personal_data, get_customer, profile_of
from backend.loyalty.program import current_rule_set
from backend.privacy import overwrite_on_delete, purge_old_page_images

router = APIRouter(prefix="/v1/customers", tags=["customers"], responses=ERROR_RESPONSES)


@router.get("/{customer_id}", response_model=CustomerDetailOut, summary="A member and their personal data")
def get_member(customer_id: str, principal: CustomerReaderDep, session: SessionDep) -> dict:
    customer = get_customer(session, customer_id)
    assert customer.id is not None
    profile = profile_of(session, customer)
    rules = current_rule_set(session)
    state = members.state_of(session, customer.id)
    return {
        "customer_id": customer.external_id,
        "address": customer.address,
        "wallet": customer.wallet,
        "tier": members.tier_name(state, rules) if rules else "member",
        "segments": sorted(members.segments_of(session, customer.id)),
        "name": profile.name if profile else None,
        "email": profile.email if profile else None,
        "phone": profile.phone if profile else None,
        "erased_at": customer.erased_at,
    }


@router.delete("/{customer_id}/personal-data", response_model=ErasureOut, summary="Erase personal data (admin)")
def erase(customer_id: str, admin: AdminDep, state: StateDep) -> dict:
    """Deletes name, e-mail and phone. The pseudonymous address, its points and the ledger stay
    (nothing personal was ever on chain). Idempotent."""
    with state.write() as session:
        overwrite_on_delete(session)
        customer = erase_personal_data(session, customer_id)
        erased = {"customer_id": customer.external_id, "address": customer.address, "erased_at": customer.erased_at}
    purge_old_page_images(state.engine)
    return erased


@router.get("/{customer_id}/wallet-claim", response_model=ClaimMessageOut, summary="The message a wallet signs")
def wallet_claim_message(
    customer_id: str, principal: CustomerReaderDep, session: SessionDep, wallet: Address = Query(...)
) -> dict:
    customer = get_customer(session, customer_id)
    return {"message": claim_message(customer.address, wallet)}


@router.post("/{customer_id}/wallet", response_model=WalletClaimOut, status_code=202, summary="Claim an own wallet")
def claim(customer_id: str, body: WalletClaimIn, principal: CustomerReaderDep, state: StateDep) -> dict:
    """Moves the member's points and debt from the custodial address to ``wallet`` (``claimWallet``),
    proven by the wallet's signature of the message from ``GET …/wallet-claim``. From then on points
    leave the wallet only with the member's signature."""
    with state.write() as session:
        customer, operation = claim_wallet(session, customer_id, body.wallet, body.signature)
        return {
            "customer_id": customer.external_id,
            "custodial_address": customer.address,
            "wallet": customer.wallet,
            "status": "pending",
            "operation_id": operation.id,
        }


@router.put("/{customer_id}/segments", response_model=CustomerDetailOut, summary="Set a member's segments (admin)")
def put_segments(customer_id: str, body: SegmentsIn, admin: AdminDep, state: StateDep) -> dict:
    """Campaigns target segments; ``tier:<name>`` segments are implied by the member's tier."""
    with state.write() as session:
        members.set_segments(session, get_customer(session, customer_id), body.segments)
    with state.write() as session:
        return get_member(customer_id, admin, session)
