"""A member's profile, their own wallet, their personal data (erasable) and their segments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel import Session

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import MEMBER_READ, WALLET, Access, AdminDep
from backend.api.replays import mark_replayed
from backend.api.schemas.common import ERROR_RESPONSES, Address
from backend.api.schemas.program import (
    CustomerDetailOut,
    ErasureOut,
    SegmentsIn,
    TypedDataOut,
    WalletClaimIn,
    WalletClaimOut,
)
from backend.api.token_domain import token_domain
from backend.loyalty import members
from backend.loyalty.customers import erase_personal_data, get_customer, profile_of
from backend.loyalty.program import current_rule_set
from backend.loyalty.wallet_claims import ClaimRequest, claim_wallet, proposal
from backend.privacy import overwrite_on_delete, purge_old_page_images

router = APIRouter(prefix="/v1/customers", tags=["customers"], responses=ERROR_RESPONSES)

WalletAccess = Annotated[Access, Depends(WALLET)]


@router.get("/{customer_id}", response_model=CustomerDetailOut, summary="A member and their personal data")
def get_member(
    customer_id: str, access: Annotated[Access, Depends(MEMBER_READ)], session: SessionDep
) -> dict[str, Any]:
    """Name, e-mail and phone are shown to admins, to the customer themselves, and to the program
    keys of retailers the program lists in ``CREDANCE_PII_READERS``; to others ``personal_data``
    says ``withheld`` and they are null."""
    return member_view(session, customer_id, access.personal_data)


def member_view(session: Session, customer_id: str, personal_data: bool) -> dict[str, Any]:
    customer = get_customer(session, customer_id)
    assert customer.id is not None
    profile = profile_of(session, customer) if personal_data else None
    rules = current_rule_set(session)
    state = members.state_of(session, customer.id)
    shown = "erased" if customer.erased_at is not None else ("shown" if personal_data else "withheld")
    return {
        "customer_id": customer.external_id,
        "address": customer.address,
        "wallet": customer.wallet,
        "tier": members.tier_name(state, rules) if rules else "member",
        "segments": sorted(members.segments_of(session, customer.id)),
        "name": profile.name if profile else None,
        "email": profile.email if profile else None,
        "phone": profile.phone if profile else None,
        "personal_data": shown,
        "erased_at": customer.erased_at,
    }


@router.delete("/{customer_id}/personal-data", response_model=ErasureOut, summary="Erase personal data (admin)")
def erase(customer_id: str, admin: AdminDep, state: StateDep) -> dict[str, Any]:
    """Deletes name, e-mail and phone. The pseudonymous address, its points and the ledger stay
    (nothing personal was ever on chain). Idempotent."""
    with state.write() as session:
        overwrite_on_delete(session)
        customer = erase_personal_data(session, customer_id)
        erased = {"customer_id": customer.external_id, "address": customer.address, "erased_at": customer.erased_at}
    purge_old_page_images(state.engine)
    return erased


@router.get(
    "/{customer_id}/wallet-claim",
    response_model=TypedDataOut,
    response_model_by_alias=True,
    summary="The EIP-712 claim a wallet signs (the customer's token)",
)
def wallet_claim_message(
    customer_id: str,
    access: WalletAccess,
    state: StateDep,
    session: SessionDep,
    wallet: Annotated[Address, Query(description="The wallet the customer claims (0x…, 40 hex digits).")],
) -> dict[str, Any]:
    """Typed data for ``eth_signTypedData_v4``, in the LoyaltyPoints token's EIP-712 domain:
    ``WalletClaim(address account, address wallet, uint256 nonce, uint256 expiry)`` with the
    member's custodial address, their next claim nonce and an expiry ten minutes away."""
    return proposal(session, token_domain(state, session), customer_id, wallet)


@router.post(
    "/{customer_id}/wallet",
    response_model=WalletClaimOut,
    status_code=202,
    summary="Claim an own wallet (the customer's token and the wallet's EIP-712 signature)",
)
def claim(
    customer_id: str, body: WalletClaimIn, access: WalletAccess, state: StateDep, response: Response
) -> dict[str, Any]:
    """Moves the member's points and debt from the custodial address to ``wallet`` (``claimWallet``),
    with the member's consent (their token) and the wallet's EIP-712 signature of the claim from
    ``GET …/wallet-claim``. The same signed claim sent again is answered as a replay. From then on
    points leave the wallet only with the member's signature."""
    request = ClaimRequest(customer_id, body.wallet, body.nonce, body.expiry, body.signature)
    with state.write() as session:
        outcome = claim_wallet(session, token_domain(state, session), request)
        mark_replayed(response, outcome.replayed)
        return {
            "customer_id": outcome.customer.external_id,
            "custodial_address": outcome.customer.address,
            "wallet": outcome.customer.wallet,
            "status": "pending",
            "operation_id": outcome.operation.id,
        }


@router.put("/{customer_id}/segments", response_model=CustomerDetailOut, summary="Set a member's segments (admin)")
def put_segments(customer_id: str, body: SegmentsIn, admin: AdminDep, state: StateDep) -> dict[str, Any]:
    """Campaigns target segments; ``tier:<name>`` segments are implied by the member's tier."""
    with state.write() as session:
        members.set_segments(session, get_customer(session, customer_id), body.segments)
    with state.write() as session:
        return member_view(session, customer_id, personal_data=True)
