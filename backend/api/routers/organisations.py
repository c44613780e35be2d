from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import Session

from backend.api.auth import Principal, Role
from backend.api.deps import AdminDep, OrganisationDep, PrincipalDep, SessionDep, StateDep
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.provenance import OrganisationIn, OrganisationOut, PartnerIn
from backend.chain.keys import keystore_password
from backend.db.models import ChainCursor, Organisation
from backend.errors import Forbidden
from backend.provenance.organisations import (
    admission_operation,
    create_organisation,
    get_organisation,
    grant_partner,
)
from backend.provenance.roles import role_names, roles_from_names
from backend.settings import DEV_CHAIN_ID

router = APIRouter(prefix="/v1/organisations", tags=["organisations"], responses=ERROR_RESPONSES)


def organisation_view(session: Session, org: Organisation) -> dict:
    admitted = admission_operation(session, org.id)
    return {
        "id": org.id, "name": org.name, "roles": role_names(org.roles), "chain_id": org.chain_id,
        "controller": org.controller, "status": admitted.status if admitted else "unknown",
    }  # fmt: skip


@router.post("", response_model=OrganisationOut, status_code=201, summary="Admit an organisation (admin)")
def create(body: OrganisationIn, admin: AdminDep, state: StateDep) -> dict:
    """Creates the organisation's signing key (encrypted at rest), funds it with gas and admits it
    on chain with its roles."""
    with state.write() as session:
        cursor = session.get(ChainCursor, "indexer")
        chain_id = state.settings.chain_id or (cursor.chain_id if cursor else DEV_CHAIN_ID)
        password = keystore_password(state.settings, chain_id)
        org = create_organisation(session, body.id, body.name, roles_from_names(list(body.roles)), password)
        return organisation_view(session, org)


@router.get("/{org_id}", response_model=OrganisationOut, summary="An organisation")
def read(org_id: str, principal: PrincipalDep, session: SessionDep) -> dict:
    return organisation_view(session, get_organisation(session, org_id))


def _own_organisation(principal: Principal, org_id: str) -> None:
    if principal.role != Role.ORGANISATION or principal.org_id != org_id:
        raise Forbidden(f"this key may not act for organisation {org_id!r}", field="org_id")


@router.put("/{org_id}/partners", response_model=OrganisationOut, summary="Grant a partner roles (brand)")
def set_partner(org_id: str, body: PartnerIn, principal: OrganisationDep, state: StateDep) -> dict:
    """A brand authorises a partner (e.g. a manufacturer) for the brand's products; an empty
    ``roles`` list revokes."""
    _own_organisation(principal, org_id)
    with state.write() as session:
        brand = get_organisation(session, org_id)
        grant_partner(session, brand, body.partner_id, roles_from_names(list(body.roles)))
        return organisation_view(session, get_organisation(session, body.partner_id))
