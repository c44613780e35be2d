"""Member-to-member transfers and the policy (switch, daily cap) that governs them."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import CATALOG, TRANSFER, Access, AdminDep
from backend.api.replays import answered
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.program import TransferIn, TransferOut, TransferPolicyIn, TransferPolicyOut
from backend.loyalty.accounts import mirrored_block
from backend.loyalty.transfers import TransferInput, pending_policy, policy_in_force, set_policy, transfer

router = APIRouter(tags=["transfers"], responses=ERROR_RESPONSES)


@router.post("/v1/customers/{customer_id}/transfers", response_model=TransferOut, summary="Give points to a member")
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


@router.get("/v1/transfer-policy", response_model=TransferPolicyOut, summary="The transfer policy in force")
def get_policy(access: Annotated[Access, Depends(CATALOG)], session: SessionDep) -> dict[str, Any]:
    policy = policy_in_force(session)
    pending = pending_policy(session)
    return {
        "enabled": policy.enabled,
        "daily_cap": policy.daily_cap,
        "as_of_block": mirrored_block(session),
        "pending": json.loads(pending.payload) if pending else None,
    }


@router.put("/v1/transfer-policy", response_model=TransferPolicyOut, status_code=202, summary="Change it (admin)")
def put_policy(body: TransferPolicyIn, admin: AdminDep, state: StateDep) -> dict[str, Any]:
    """Queues ``setTransferPolicy``; the new policy is in force once it is on chain and mirrored."""
    with state.write() as session:
        operation = set_policy(session, body.enabled, body.daily_cap)
        policy = policy_in_force(session)
        return {
            "enabled": policy.enabled,
            "daily_cap": policy.daily_cap,
            "as_of_block": mirrored_block(session),
            "pending": json.loads(operation.payload),
        }
