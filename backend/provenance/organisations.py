"""Organisations: created by an admin with a signing key of their own (encrypted at rest), then
admitted on chain; brands grant partners roles for their products."""

from __future__ import annotations

from sqlmodel import Session

from backend.chain.keys import new_encrypted_key
from backend.chain.operations import Fund, SetOrganisation, SetPartnerRoles, enqueue, find_operation
from backend.db.models import Operation, Organisation, OrgSigner, Partnership
from backend.errors import Conflict, Forbidden, NotFound, Unprocessable
from backend.provenance.roles import OrgRole, org_chain_id

# Gas money sent to a new organisation's key (0.05 ETH covers thousands of registry writes on
# an L2; on Anvil it is play money).
ORG_FUNDING_WEI = 5 * 10**16


def get_organisation(session: Session, org_id: str) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"organisation {org_id!r} does not exist", field="org_id")
    return org


def admission_operation(session: Session, org_id: str) -> Operation | None:
    return find_operation(session, SetOrganisation.admission_key(org_id))


def create_organisation(session: Session, slug: str, name: str, roles: int, keystore_password: str) -> Organisation:
    if session.get(Organisation, slug) is not None:
        raise Conflict(f"organisation {slug!r} already exists", field="id")
    address, keystore = new_encrypted_key(keystore_password)
    org = Organisation(id=slug, name=name, chain_id=org_chain_id(slug), roles=roles, controller=address)
    session.add(org)
    session.flush()
    session.add(OrgSigner(org_id=slug, address=address, keystore=keystore))
    funding = enqueue(session, Fund(account=address, amount=ORG_FUNDING_WEI, organisation=slug))
    admission = SetOrganisation(org_id=org.chain_id, controller=address, roles=roles, active=True, admits=slug)
    enqueue(session, admission, after=funding)
    return org


def update_organisation(session: Session, org: Organisation, roles: int | None, active: bool | None) -> Organisation:
    """Change an organisation's roles or suspend it (admin); the change is queued for the chain,
    where the registry emits OrganisationUpdated and the indexer mirrors it."""
    if roles is not None:
        org.roles = roles
    if active is not None:
        org.active = active
    session.add(org)
    admitted = admission_operation(session, org.id)
    change = SetOrganisation(org_id=org.chain_id, controller=org.controller, roles=org.roles, active=org.active)
    enqueue(session, change, after=admitted)
    return org


def may_write_for(session: Session, org: Organisation, brand_id: str, needed: int) -> bool:
    """Whether ``org`` may record events needing one of the roles ``needed`` for ``brand_id``'s
    products: the brand itself may, a partner with such a role granted by the brand may."""
    if not org.active:
        return False
    if org.id == brand_id:
        return True
    partnership = session.get(Partnership, (brand_id, org.id))
    return partnership is not None and bool(partnership.roles & org.roles & needed)


def grant_partner(session: Session, owner: Organisation, partner_id: str, roles: int) -> Partnership:
    """``owner`` (a brand for its products, or any organisation for the identifiers it owns, such as
    its SSCCs) grants ``partner_id`` roles; ``roles == 0`` revokes them. As on chain, granting needs
    an active partner while revoking works for a suspended one too."""
    if not owner.active:
        raise Forbidden(f"organisation {owner.id!r} is suspended", field="org_id")
    partner = get_organisation(session, partner_id)
    if partner.id == owner.id:
        raise Unprocessable("an organisation needs no authorisation of its own", field="partner_id")
    if roles and not partner.active:
        raise Conflict(
            f"organisation {partner.id!r} is suspended: roles can be revoked, not granted", field="partner_id"
        )
    partnership = session.get(Partnership, (owner.id, partner.id)) or Partnership(
        brand_id=owner.id, partner_id=partner.id, roles=roles
    )
    partnership.roles = roles
    session.add(partnership)
    admitted = admission_operation(session, partner.id)
    enqueue(session, SetPartnerRoles(org=owner.id, partner_id=partner.chain_id, roles=roles), after=admitted)
    return partnership


def may_manufacture(session: Session, org: Organisation, brand_id: str) -> bool:
    """Whether ``org`` may register items of ``brand_id``'s products (the same rule as on chain)."""
    if not org.roles & OrgRole.MANUFACTURER or not org.active:
        return False
    if org.id == brand_id:
        return True
    partnership = session.get(Partnership, (brand_id, org.id))
    return partnership is not None and bool(partnership.roles & OrgRole.MANUFACTURER)
