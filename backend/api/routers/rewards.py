"""The reward catalog (admins) and redemptions against it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from backend.api.deps import SessionDep, StateDep
from backend.api.listing import Cursor, Limit, Search, listed
from backend.api.policy import CATALOG, Access, AdminDep
from backend.api.schemas.common import ERROR_RESPONSES, Slug
from backend.api.schemas.program import RewardIn, RewardOut, RewardPatch
from backend.db.models import Reward
from backend.db.pages import MAX_LIMIT
from backend.errors import Unprocessable
from backend.lists import list_rewards_page
from backend.loyalty.collectibles import Edition, create_collectible_reward
from backend.loyalty.rewards import (
    create_reward,
    get_reward,
    update_reward,
)

router = APIRouter(tags=["rewards"], responses=ERROR_RESPONSES)
CatalogReader = Annotated[Access, Depends(CATALOG)]


@router.post("/v1/rewards", response_model=RewardOut, status_code=201, summary="Add a reward (admin)")
def add_reward(body: RewardIn, admin: AdminDep, state: StateDep) -> Reward:
    with state.write() as session:
        if (collectible := body.collectible) is not None:
            if body.stock is not None:
                raise Unprocessable("an edition's stock is its cap: omit stock", field="stock")
            edition = Edition(collectible.edition, collectible.cap, collectible.organiser)
            return create_collectible_reward(session, body.id, body.name, body.points_price, edition, body.description)
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
def catalog(
    access: CatalogReader,
    session: SessionDep,
    request: Request,
    response: Response,
    include_inactive: bool = Query(False),
    q: Search = None,
    limit: Limit = MAX_LIMIT,
    cursor: Cursor = None,
) -> list[Reward]:
    """A list (as it always was), paged by the cursor of the ``Link: <…>; rel="next"`` header."""
    page = list_rewards_page(session, include_inactive, q, limit, cursor)
    listed(request, response, page, page.rows)
    return page.rows


@router.get("/v1/rewards/{reward_id}", response_model=RewardOut, summary="One reward")
def one_reward(reward_id: Slug, access: CatalogReader, session: SessionDep) -> Reward:
    return get_reward(session, reward_id)
