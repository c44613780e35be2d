"""Member-to-member transfers and the policy (switch, daily cap) that governs them."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import CATALOG, Access, AdminDep
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.program import TransferPolicyIn, TransferPolicyOut
from backend.loyalty.accounts import mirrored_block
from backend.loyalty.transfers import pending_policy, policy_in_force, set_policy

router = APIRouter(tags=["transfers"], responses=ERROR_RESPONSES)


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
