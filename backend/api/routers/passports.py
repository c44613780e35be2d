"""Item passports: the buyer claims the passport of an item they bought, gives it to another
member, lists what they hold; anyone reads a passport's ownership facts
(``backend/provenance/passports.py``; docs/passports.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from backend.api.auth import Principal, Role
from backend.api.budget import RouteClass
from backend.api.deps import SessionDep, StateDep
from backend.api.policy import BALANCE, PASSPORT, PUBLIC, PUBLIC_HOLDER, Access
from backend.api.replays import answered
from backend.api.route_facts import declare
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.passports import (
    MemberPassportsOut,
    PassportChallengeOut,
    PassportClaimIn,
    PassportMetadataOut,
    PassportOut,
    PassportProofIn,
    PassportProofOut,
    PassportQueued,
    PassportTransferIn,
    TokenId,
)
from backend.errors import NotFound
from backend.loyalty.customers import find_customer, get_customer
from backend.provenance import passport_proofs, passports
from backend.provenance.passports import ClaimInput, Ownership, TransferInput

router = APIRouter(tags=["passports"], responses=ERROR_RESPONSES)


def _out(owner: Ownership, proves: bool | None = None, recalled: bool = False) -> dict[str, Any]:
    return {
        "recalled": recalled,
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
    customer_id: str,
    body: PassportClaimIn,
    access: Annotated[Access, Depends(PASSPORT)],
    state: StateDep,
    response: Response,
) -> dict[str, Any]:
    """Queues the passport (ERC-721) of a registered item this member bought, to their address.
    Only the buyer (the purchase whose sale of the item was recorded, not refunded), once per item,
    ever. An idempotent command: sent again with its ``claim_id``, the first answer."""
    request = ClaimInput(customer_id, body.claim_id, body.gtin, body.serial)
    with state.write() as session:
        outcome = passports.claim_passport(session, request)
    return answered(outcome, response)


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
    response: Response,
) -> dict[str, Any]:
    """Queues the relayed transfer of a passport the member holds in custody (a resale). A passport
    in the member's own wallet moves with that wallet (an ERC-721 transfer it signs). An idempotent
    command: sent again with its ``transfer_id``, the first answer."""
    request = TransferInput(customer_id, token_id, body.transfer_id, body.to_customer_id)
    with state.write() as session:
        outcome = passports.transfer_passport(session, request)
    return answered(outcome, response)


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


@router.get(
    "/v1/passports/{token_id}",
    response_model=PassportOut,
    summary="A passport: owned since, previous owners",
    openapi_extra=declare(RouteClass.PUBLIC),
)
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
    return _out(owner, proves, passports.is_recalled(session, owner.token_id))


@router.post(
    "/v1/passports/{token_id}/challenges",
    dependencies=[Depends(PUBLIC)],
    response_model=PassportChallengeOut,
    status_code=201,
    summary="A challenge to prove holding a passport with a wallet signature",
    openapi_extra=declare(RouteClass.PUBLIC),
)
def challenge(token_id: TokenId, state: StateDep) -> dict[str, Any]:
    """Public: a message to sign (EIP-191) with the wallet holding the passport, for this passport
    only, valid a few minutes, usable once (``backend/provenance/passport_proofs.py``)."""
    with state.write() as session:
        issued = passport_proofs.issue_challenge(session, token_id)
    return {
        "token_id": issued.token_id,
        "nonce": issued.nonce,
        "message": issued.message,
        "expires_at": issued.expires_at,
    }


@router.post(
    "/v1/passports/{token_id}/proofs",
    dependencies=[Depends(PUBLIC)],
    response_model=PassportProofOut,
    summary="Whether a wallet signature over a challenge proves holding a passport",
    openapi_extra=declare(RouteClass.PUBLIC),
)
def prove(token_id: TokenId, body: PassportProofIn, state: StateDep) -> dict[str, Any]:
    """Public: spends the challenge and says whether the wallet that signed it holds the passport
    now. A replayed, expired or foreign challenge, or another wallet's signature, proves nothing."""
    with state.write() as session:
        proof = passport_proofs.prove_with_wallet(session, token_id, body.nonce, body.signature)
    return {"token_id": token_id.lower(), "proves_ownership": proof.proves_ownership, "reason": proof.reason}


@router.get(
    "/passports/{token_id}",
    dependencies=[Depends(PUBLIC)],
    response_model=PassportMetadataOut,
    summary="A passport's ERC-721 metadata (its tokenURI)",
    openapi_extra=declare(RouteClass.PUBLIC),
)
def token_metadata(token_id: TokenId, state: StateDep, session: SessionDep) -> dict[str, Any]:
    """Public: what ``ItemPassports.tokenURI`` points at. No serial, no personal data."""
    return passports.metadata(session, token_id.lower(), state.settings.resolved_public_url)
