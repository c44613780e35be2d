from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlmodel import Session, select

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import OWN_ORGANISATION, Access, AdminDep, PrincipalDep
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.provenance import OrganisationIn, OrganisationOut, OrganisationUpdate, PartnerIn, PrefixIn
from backend.chain.keys import keystore_password
from backend.db.models import ChainCursor, MirrorOrganisation, MirrorPartnerRole, Organisation, Partnership
from backend.provenance.organisations import (
    admission_operation,
    create_organisation,
    get_organisation,
    grant_partner,
    update_organisation,
)
from backend.provenance.prefixes import assign_prefix, prefixes_of
from backend.provenance.roles import role_names, roles_from_names
from backend.settings import DEV_CHAIN_ID, Settings

router = APIRouter(prefix="/v1/organisations", tags=["organisations"], responses=ERROR_RESPONSES)


def organisation_view(session: Session, org: Organisation) -> dict[str, Any]:
    """The organisation as recorded here, and as the chain knows it (mirrored by the indexer)."""
    admitted = admission_operation(session, org.id)
    mirrored = session.get(MirrorOrganisation, org.chain_id)
    partners = []
    for partnership in session.exec(select(Partnership).where(Partnership.brand_id == org.id)).all():
        partner = session.get(Organisation, partnership.partner_id)
        on_chain = session.get(MirrorPartnerRole, (org.chain_id, partner.chain_id)) if partner else None
        partners.append(
            {
                "partner_id": partnership.partner_id,
                "roles": role_names(partnership.roles),
                "on_chain_roles": role_names(on_chain.roles) if on_chain else None,
            }
        )
    return {
        "id": org.id,
        "name": org.name,
        "roles": role_names(org.roles),
        "chain_id": org.chain_id,
        "controller": org.controller,
        "status": admitted.status if admitted else "unknown",
        "on_chain": None
        if mirrored is None
        else {
            "roles": role_names(mirrored.roles),
            "active": mirrored.active,
            "block_number": mirrored.block_number,
        },
        "partners": partners,
        "company_prefixes": prefixes_of(session, org.id),
    }


@router.post("", response_model=OrganisationOut, status_code=201, summary="Admit an organisation (admin)")
def create(body: OrganisationIn, admin: AdminDep, state: StateDep) -> dict[str, Any]:
    """Creates the organisation's signing key (encrypted at rest), funds it with gas and admits it
    on chain with its roles."""
    with state.write() as session:
        return organisation_view(session, admit(session, state.settings, body))


def admit(session: Session, settings: Settings, body: OrganisationIn) -> Organisation:
    """A new organisation with its own signing key, encrypted with the chain's keystore password
    (the console's form calls this too)."""
    cursor = session.get(ChainCursor, "indexer")
    chain_id = settings.chain_id or (cursor.chain_id if cursor else DEV_CHAIN_ID)
    password = keystore_password(settings, chain_id)
    return create_organisation(session, body.id, body.name, roles_from_names(list(body.roles)), password)


@router.get("/{org_id}", response_model=OrganisationOut, summary="An organisation")
def read(org_id: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return organisation_view(session, get_organisation(session, org_id))


@router.patch("/{org_id}", response_model=OrganisationOut, summary="Change roles or suspend (admin)")
def update(org_id: str, body: OrganisationUpdate, admin: AdminDep, state: StateDep) -> dict[str, Any]:
    """Role changes and suspensions go on chain (OrganisationUpdated) and back into the mirror."""
    with state.write() as session:
        org = get_organisation(session, org_id)
        roles = roles_from_names(list(body.roles)) if body.roles is not None else None
        update_organisation(session, org, roles, body.active)
        return organisation_view(session, org)


@router.post(
    "/{org_id}/prefixes",
    response_model=OrganisationOut,
    status_code=201,
    summary="Assign a GS1 company prefix to an organisation (admin)",
)
def add_prefix(org_id: str, body: PrefixIn, admin: AdminDep, state: StateDep) -> dict[str, Any]:
    """The organisation then owns the identifiers under the prefix (SSCCs, GRAIs…) and, if it is a
    brand, only it may register GTINs under it, here and on chain."""
    with state.write() as session:
        brand = get_organisation(session, org_id)
        assign_prefix(session, brand, body.prefix)
        return organisation_view(session, brand)


@router.put("/{org_id}/partners", response_model=OrganisationOut, summary="Grant a partner roles (owner)")
def set_partner(
    org_id: str, body: PartnerIn, access: Annotated[Access, Depends(OWN_ORGANISATION)], state: StateDep
) -> dict[str, Any]:
    """An owner (a brand for its products, or any organisation for the identifiers it owns) authorises
    a partner (manufacturer, distributor, retailer); an empty ``roles`` list revokes, also for a
    suspended partner. Only authorised partners may register items or record events."""
    with state.write() as session:
        brand = get_organisation(session, org_id)
        grant_partner(session, brand, body.partner_id, roles_from_names(list(body.roles)))
        return organisation_view(session, get_organisation(session, body.partner_id))
