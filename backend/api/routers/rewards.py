"""The reward catalog (admins) and redemptions against it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import CATALOG, MEMBER_READ, REDEEM, Access, AdminDep
from backend.api.replays import answered
from backend.api.schemas.common import ERROR_RESPONSES, Slug
from backend.api.schemas.program import RedemptionIn, RedemptionOut, RewardIn, RewardOut, RewardPatch
from backend.api.till import counting_wrong_codes
from backend.consent.till_codes import use_code
from backend.db.models import Operation, Reward
from backend.loyalty.customers import find_customer, get_customer
from backend.loyalty.rewards import (
    Permit,
    RedemptionInput,
    create_reward,
    get_reward,
    list_rewards,
    redeem,
    redemptions_of,
    update_reward,
)

router = APIRouter(tags=["rewards"], responses=ERROR_RESPONSES)
CatalogReader = Annotated[Access, Depends(CATALOG)]


@router.post("/v1/rewards", response_model=RewardOut, status_code=201, summary="Add a reward (admin)")
def add_reward(body: RewardIn, admin: AdminDep, state: StateDep) -> Reward:
    with state.write() as session:
        return create_reward(session, body.id, body.name, body.points_price, body.stock, body.description)


@router.patch(
    "/v1/rewards/{reward_id}", response_model=RewardOut, summary="Change price, stock or availability (admin)"
)
def change_reward(reward_id: Slug, body: RewardPatch, admin: AdminDep, state: StateDep) -> Reward:
    with state.write() as session:
        changes = body.model_dump(exclude_unset=True)
        # Only the stock may be set to null (unlimited); a null elsewhere means "leave it".
        return update_reward(session, reward_id, {k: v for k, v in changes.items() if v is not None or k == "stock"})


@router.get("/v1/rewards", response_model=list[RewardOut], summary="The catalog")
def catalog(access: CatalogReader, session: SessionDep, include_inactive: bool = Query(False)) -> list[Reward]:
    return list_rewards(session, include_inactive)


@router.get("/v1/rewards/{reward_id}", response_model=RewardOut, summary="One reward")
def one_reward(reward_id: Slug, access: CatalogReader, session: SessionDep) -> Reward:
    return get_reward(session, reward_id)


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
