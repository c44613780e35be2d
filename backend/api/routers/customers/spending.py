"""What a member spends: rewards redeemed with points, and points given to another member. Both
need the member's consent (their token, or at a till the one-time code they show) and are
idempotent by the client's id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import MEMBER_READ, REDEEM, TRANSFER, Access
from backend.api.replays import answered
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.program import RedemptionIn, RedemptionOut, TransferIn, TransferOut
from backend.api.till import counting_wrong_codes
from backend.consent.till_codes import use_code
from backend.db.models import Operation
from backend.loyalty.customers import find_customer, get_customer
from backend.loyalty.rewards import Permit, RedemptionInput, redeem, redemptions_of
from backend.loyalty.transfers import TransferInput, transfer

router = APIRouter(tags=["rewards"], responses=ERROR_RESPONSES)


@router.post(
    "/v1/customers/{customer_id}/redemptions", response_model=RedemptionOut, summary="Redeem a reward with points"
)
def create_redemption(
    customer_id: str,
    body: RedemptionIn,
    access: Annotated[Access, Depends(REDEEM)],
    state: StateDep,
    response: Response,
) -> dict[str, Any]:
    """Burns the reward's points on chain, with the customer's consent: their own token, or at a
    till (checkout key) the one-time code they show (``customer_code``, used once; a wrong one
    counts against it). Custodial members: the platform burns the points. Members who hold their
    own wallet: send an ERC-2612 ``permit`` for exactly these points (spender: the token contract).
    Refused with a 422 above the available balance. Idempotent by ``redemption_id``."""
    permit = body.permit
    request = RedemptionInput(
        customer_id=customer_id,
        redemption_id=body.redemption_id,
        reward_id=body.reward_id,
        quantity=body.quantity,
        permit=Permit(permit.deadline, permit.v, permit.r, permit.s) if permit else None,
    )
    with counting_wrong_codes(state), state.write() as session:
        if access.till_code is not None:  # used in the redemption's unit of work: a refusal leaves it unused
            purpose = f"redemption:{body.redemption_id}"
            use_code(session, find_customer(session, customer_id), access.till_code, purpose, access.key_id)
        outcome = redeem(session, request)
    return answered(outcome, response)


@router.get(
    "/v1/customers/{customer_id}/redemptions", response_model=list[RedemptionOut], summary="A customer's redemptions"
)
def list_redemptions(
    customer_id: str, access: Annotated[Access, Depends(MEMBER_READ)], session: SessionDep
) -> list[dict[str, Any]]:
    customer = get_customer(session, customer_id)
    out = []
    for r in redemptions_of(session, customer):
        operation = session.get(Operation, r.operation_id) if r.operation_id else None
        status = "failed" if r.status == "failed" else (operation.status if operation else "pending")
        out.append(
            {
                "customer_id": customer_id,
                "redemption_id": r.redemption_id,
                "reward_id": r.reward_id,
                "quantity": r.quantity,
                "points": r.points,
                "operation_id": r.operation_id,
                "status": status if status in ("confirmed", "failed") else "pending",
            }
        )
    return out


@router.post(
    "/v1/customers/{customer_id}/transfers",
    response_model=TransferOut,
    summary="Give points to a member",
    tags=["transfers"],
)
def create_transfer(
    customer_id: str,
    body: TransferIn,
    access: Annotated[Access, Depends(TRANSFER)],
    state: StateDep,
    response: Response,
) -> dict[str, Any]:
    """Moves points to another member (``transferFor`` on chain), with the sender's consent (their
    customer token: no key gives away a customer's points) and under the policy in force: refused
    when transfers are off (409), above the sender's daily cap or available points (422), or to
    oneself (422). Idempotent by ``transfer_id``."""
    request = TransferInput(customer_id, body.to_customer_id, body.transfer_id, body.amount)
    with state.write() as session:
        outcome = transfer(session, request)
    return answered(outcome, response)
