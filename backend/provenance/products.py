"""Products: a brand registers GTINs under the GS1 company prefixes the admin assigned to it; the
registration is queued for the chain, after the prefix assignment (the contract checks it too)."""

from __future__ import annotations

from sqlmodel import Session

from backend.chain.operations import RegisterProduct, enqueue, find_operation
from backend.db.models import Operation, Organisation, Product
from backend.errors import Conflict, Forbidden, NotFound
from backend.provenance.gtin import normalise_gtin
from backend.provenance.organisations import admission_operation
from backend.provenance.prefixes import prefix_operation, prefix_owner
from backend.provenance.roles import OrgRole


def get_product(session: Session, gtin: str) -> Product:
    product = session.get(Product, normalise_gtin(gtin))
    if product is None:
        raise NotFound(f"GTIN {gtin} is not registered", field="gtin")
    return product


def product_operation(session: Session, gtin: str) -> Operation | None:
    return find_operation(session, RegisterProduct.key(gtin))


def register_product(
    session: Session,
    brand: Organisation,
    gtin: str,
    name: str,
    description: str = "",
    category: str | None = None,
) -> Product:
    if not brand.roles & OrgRole.BRAND:
        raise Forbidden(f"organisation {brand.id!r} is not a brand", field="gtin")
    gtin = normalise_gtin(gtin)
    existing = session.get(Product, gtin)
    if existing is not None:
        raise Conflict(f"GTIN {gtin} is already registered by {existing.brand_id}", field="gtin")
    holder = prefix_owner(session, gtin)
    if holder is None:
        raise Forbidden(
            f"GTIN {gtin} lies under no GS1 company prefix assigned to {brand.id!r}: the admin "
            "assigns the brand its prefix first",
            field="gtin",
        )
    if holder.org_id != brand.id:
        raise Forbidden(
            f"GTIN {gtin} lies under GS1 company prefix {holder.prefix}, assigned to {holder.org_id!r}", field="gtin"
        )
    product = Product(gtin=gtin, brand_id=brand.id, name=name, description=description, category=category)
    session.add(product)
    # On chain the prefix must be assigned before the product is registered.
    assigned = prefix_operation(session, holder.prefix) or admission_operation(session, brand.id)
    enqueue(session, RegisterProduct(org=brand.id, gtin=int(gtin)), after=assigned)
    return product
