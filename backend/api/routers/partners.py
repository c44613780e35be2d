"""Coalition partners (admin): exchange rates, caps, and conversions of their points into ours."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import CONVERT, Access, AdminDep
from backend.api.replays import answered
from backend.api.schemas.common import ERROR_RESPONSES, Slug
from backend.api.schemas.program import ConversionIn, ConversionOut, PartnerIn, PartnerOut, PartnerPatch
from backend.db.models import Partner
from backend.loyalty.partners import ConversionInput, convert, create_partner, list_partners, update_partner

router = APIRouter(prefix="/v1/partners", tags=["partners"], responses=ERROR_RESPONSES)


@router.post("", response_model=PartnerOut, status_code=201, summary="Add a partner program (admin)")
def add_partner(body: PartnerIn, admin: AdminDep, state: StateDep) -> Partner:
    with state.write() as session:
        return create_partner(
            session, body.id, body.name, body.rate, body.max_points_per_conversion, body.daily_cap_per_customer
        )


@router.get("", response_model=list[PartnerOut], summary="Partner programs (admin)")
def partners(admin: AdminDep, session: SessionDep) -> list[Partner]:
    return list_partners(session)


@router.patch("/{partner_id}", response_model=PartnerOut, summary="Change rate, caps or status (admin)")
def change_partner(partner_id: Slug, body: PartnerPatch, admin: AdminDep, state: StateDep) -> Partner:
    with state.write() as session:
        changes = body.model_dump(exclude_unset=True, exclude_none=True)  # a null means "leave it"
        return update_partner(session, partner_id, changes)


@router.post("/{partner_id}/conversions", response_model=ConversionOut, summary="Convert partner points into ours")
def create_conversion(
    partner_id: Slug,
    body: ConversionIn,
    access: Annotated[Access, Depends(CONVERT)],
    state: StateDep,
    response: Response,
) -> dict[str, Any]:
    """Awards ``floor(partner_points * rate)`` points with a partner reference, within the partner's
    caps. An admin vouches for the partner points; the customer agrees to spend them with their
    token, forwarded in ``X-Customer-Token`` (scope ``convert``). Idempotent by ``conversion_id``
    (the partner's reference)."""
    request = ConversionInput(partner_id, body.conversion_id, body.customer_id, body.partner_points)
    with state.write() as session:
        outcome = convert(session, request)
    return answered(outcome, response)
