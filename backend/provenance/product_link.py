"""What a GS1 Digital Link resolver answers besides an item's verification: the product page of a
GTIN (or a lot of it), the item's lot checked against the link, and the linkset (RFC 9264,
``application/linkset+json``) of the links a resolver offers for a link, by GS1 link type."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from backend.db.models import Item, Organisation, Product, RecallRecord
from backend.errors import NotFound
from backend.provenance.digital_link import DigitalLink

GS1_VOC = "https://gs1.org/voc/"
PIP, VERIFICATION, DEFAULT = "pip", "verificationService", "defaultLink"


def link_type(value: str) -> str:
    """``gs1:pip``, ``pip`` or ``https://gs1.org/voc/pip`` → ``pip``."""
    for prefix in ("gs1:", GS1_VOC):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def offered(link: DigitalLink) -> list[str]:
    """The GS1 link types this resolver answers for the link (the first is the default)."""
    return [VERIFICATION, PIP] if link.serial else [PIP]


def linkset(link: DigitalLink, base_url: str) -> dict[str, Any]:
    """The links for ``link`` (RFC 9264 JSON, keyed by GS1 link type IRIs, as GS1 resolvers answer)."""
    anchor = base_url + link.path()
    product = base_url + DigitalLink(link.gtin, link.cpv, link.lot).path()
    links: dict[str, Any] = {"anchor": anchor}
    if link.serial:
        verification = [
            {"href": anchor, "title": "Verify this item", "type": "text/html"},
            {"href": anchor + "?format=json", "title": "Verify this item", "type": "application/json"},
        ]
        links[GS1_VOC + VERIFICATION] = verification
        links[GS1_VOC + DEFAULT] = [{"href": anchor, "title": "Verify this item"}]
    links[GS1_VOC + PIP] = [
        {"href": product, "title": "Product information", "type": "text/html"},
        {"href": product + "?format=json", "title": "Product information", "type": "application/json"},
    ]
    if not link.serial:
        links[GS1_VOC + DEFAULT] = [{"href": product, "title": "Product information"}]
    return {"linkset": [links]}


def check_item_qualifiers(session: Session, link: DigitalLink) -> None:
    """A link that names the lot (or variant) of a serialized item must name its registered lot."""
    if link.lot is None:
        return
    item = session.exec(select(Item).where(Item.gtin == link.gtin, Item.serial == link.serial)).first()
    if item is not None and item.lot is not None and item.lot != link.lot:
        raise NotFound(f"item {link.serial} of GTIN {link.gtin} is not in lot {link.lot}", field="lot")


def product_page(session: Session, link: DigitalLink, base_url: str) -> dict[str, Any]:
    """A GTIN's product information (and of one lot of it): name, brand, recalls of the GTIN or lot."""
    product = session.get(Product, link.gtin)
    if product is None:
        raise NotFound(f"GTIN {link.gtin} is not registered here", field="gtin")
    brand = session.get(Organisation, product.brand_id)
    recalls = session.exec(
        select(RecallRecord).where(RecallRecord.gtin == link.gtin).order_by(col(RecallRecord.id))
    ).all()
    relevant = [r for r in recalls if r.whole_gtin or (link.lot is not None and r.lot == link.lot)]
    return {
        "gtin": product.gtin,
        "lot": link.lot,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "brand": None if brand is None else {"id": brand.id, "name": brand.name},
        "recalls": [
            {"recall_id": r.id, "reason": r.reason, "whole_gtin": r.whole_gtin, "lot": r.lot} for r in relevant
        ],
        "links": linkset(link, base_url)["linkset"][0],
    }
