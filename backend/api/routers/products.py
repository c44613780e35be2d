from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlmodel import Session

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import PUBLIC, OrganisationDep, PrincipalDep
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.provenance import (
    ItemsIn,
    ItemsOut,
    ProductIn,
    ProductOut,
    RecallIn,
    RecallOut,
    RecallScopeOut,
)
from backend.db.models import Product
from backend.provenance.items import register_items
from backend.provenance.organisations import get_organisation
from backend.provenance.products import get_product, product_operation, register_product
from backend.provenance.recalls import issue_recall, recall_scope

router = APIRouter(tags=["products"], responses=ERROR_RESPONSES)


def product_view(session: Session, product: Product) -> dict[str, Any]:
    operation = product_operation(session, product.gtin)
    return {
        "gtin": product.gtin,
        "brand_id": product.brand_id,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "status": operation.status if operation else "unknown",
    }


@router.post("/v1/products", response_model=ProductOut, status_code=201, summary="Register a product (brand)")
def create_product(body: ProductIn, principal: OrganisationDep, state: StateDep) -> dict[str, Any]:
    with state.write() as session:
        brand = get_organisation(session, principal.org_id or "")
        product = register_product(session, brand, body.gtin, body.name, body.description, body.category)
        return product_view(session, product)


@router.get("/v1/products/{gtin}", response_model=ProductOut, summary="A product")
def read_product(gtin: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return product_view(session, get_product(session, gtin))


@router.post("/v1/items", response_model=ItemsOut, status_code=201, summary="Register serialized items")
def create_items(body: ItemsIn, principal: OrganisationDep, state: StateDep) -> dict[str, Any]:
    """Registers up to 100,000 serials of one GTIN as one Merkle batch (manufacturer authorised
    by the brand). Each serial gets a secret salt; only salted commitments reach the chain."""
    with state.write() as session:
        manufacturer = get_organisation(session, principal.org_id or "")
        batch = register_items(session, manufacturer, body.gtin, list(body.serials), body.lot)
    return {"gtin": batch.gtin, "root": batch.root, "count": batch.count, "status": "pending"}


@router.post(
    "/v1/recalls", response_model=RecallOut, status_code=201, summary="Recall a GTIN, a lot or serials (brand)"
)
def create_recall(body: RecallIn, principal: OrganisationDep, state: StateDep) -> dict[str, Any]:
    """The recall reaches the brand's own items made from or packed with the recalled ones (through
    transformation and aggregation events); ``count`` items are committed on chain in the scope
    root, each with its inclusion proof, and every one of them verifies as ``recalled``. Other
    brands' items linked to them verify with a notice ("packed with a recalled item"), not recalled."""
    with state.write() as session:
        brand = get_organisation(session, principal.org_id or "")
        serials = list(body.serials) if body.serials else None
        record = issue_recall(session, brand, body.gtin, body.reason, serials, body.lot)
        return {
            "gtin": record.gtin,
            "scope_root": record.scope_root,
            "count": record.count,
            "reason": record.reason,
            "lot": record.lot,
            "whole_gtin": record.whole_gtin,
        }


@router.get(
    "/v1/recalls/{recall_id}/scope",
    response_model=RecallScopeOut,
    dependencies=[Depends(PUBLIC)],
    summary="The leaves of a recall's scope (public)",
)
def read_recall_scope(recall_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep) -> dict[str, Any]:
    """For an on-chain recall id (RecallIssued), the leaves its scope root commits to, in tree
    order: rebuild the root (sorted-pair keccak256, an odd node moves up) and compare it with the
    chain, then look for ``itemLeaf(gtin, commitment)`` of an item. Public: salted commitments
    reveal no serial."""
    return recall_scope(session, recall_id)
