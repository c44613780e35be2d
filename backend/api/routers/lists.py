"""The API's lists: customers, purchases, organisations, products, recalls and API keys, each
searchable and paged by cursor (``backend/api/listing.py``). The reward catalog pages the same way
in ``rewards.py``.

Each list is a query function of ``backend/lists.py`` (a session and filters in, a page of rows
out: no HTTP), which the route answers and the console's pages (``console_pages.py``) render, and
a route here declaring its policy. What a caller may list is the policy's decision plus the
filter the route applies for its principal: a brand lists its own products and recalls (another
brand's ``brand_id`` is refused, 403), a checkout key its own store's purchases, a program key its
retailer's stores'.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from backend.api.auth import Role
from backend.api.deps import SessionDep
from backend.api.listing import PagingDep, Search
from backend.api.policy import BRAND_LIST, ORGANISATION_LIST, READ_PURCHASE, Access, AdminDep
from backend.api.schemas.common import ERROR_RESPONSES, Identifier, Slug
from backend.api.schemas.lists import ApiKeyPage, CustomerPage, OrganisationPage, ProductPage, PurchasePage, RecallPage
from backend.lists import (
    list_api_keys,
    list_customers,
    list_organisations,
    list_products,
    list_purchases,
    list_recalls,
)

router = APIRouter(responses=ERROR_RESPONSES)
GtinQuery = Annotated[str | None, Query(pattern=r"^\d{8}$|^\d{12,14}$")]


@router.get("/v1/customers", response_model=CustomerPage, tags=["customers"], summary="Members, searchable (admin)")
def customers(
    admin: AdminDep,
    session: SessionDep,
    paging: PagingDep,
    q: Search = None,
) -> dict[str, Any]:
    page = list_customers(session, q, paging.limit, paging.cursor)
    return paging.answer(page)


@router.get("/v1/purchases", response_model=PurchasePage, tags=["purchases"], summary="Purchases, newest first")
def purchases(
    access: Annotated[Access, Depends(READ_PURCHASE)],
    session: SessionDep,
    paging: PagingDep,
    store_id: Slug | None = Query(None, description="Required with a program key; a checkout key's own by default."),
    customer_id: Identifier | None = None,
    q: Search = None,
) -> dict[str, Any]:
    """An admin lists every store's purchases or one store's; a checkout key its own store's; a
    program key one of its retailer's stores'."""
    page = list_purchases(session, access.store_id, customer_id, q, paging.limit, paging.cursor)
    return paging.answer(page)


@router.get(
    "/v1/organisations", response_model=OrganisationPage, tags=["organisations"], summary="Organisations, searchable"
)
def organisations(
    access: Annotated[Access, Depends(ORGANISATION_LIST)],
    session: SessionDep,
    paging: PagingDep,
    q: Search = None,
) -> dict[str, Any]:
    """An admin lists every organisation; an organisation itself and those it works with."""
    seen_by = access.org_id if access.role == Role.ORGANISATION else None
    page = list_organisations(session, q, paging.limit, paging.cursor, seen_by)
    return paging.answer(page)


BrandQuery = Annotated[Slug | None, Query(description="The brand (an organisation key: its own, the default).")]


def _brand(access: Access, brand_id: str | None) -> str | None:
    """The brand a list shows: an organisation's own (the policy refused any other); an admin's choice."""
    return access.org_id if access.role == Role.ORGANISATION else brand_id


@router.get("/v1/products", response_model=ProductPage, tags=["products"], summary="A brand's products")
def products(
    access: Annotated[Access, Depends(BRAND_LIST)],
    session: SessionDep,
    paging: PagingDep,
    brand_id: BrandQuery = None,
    q: Search = None,
) -> dict[str, Any]:
    page = list_products(session, _brand(access, brand_id), q, paging.limit, paging.cursor)
    return paging.answer(page)


@router.get("/v1/recalls", response_model=RecallPage, tags=["products"], summary="A brand's recalls, newest first")
def recalls(
    access: Annotated[Access, Depends(BRAND_LIST)],
    session: SessionDep,
    paging: PagingDep,
    brand_id: BrandQuery = None,
    gtin: GtinQuery = None,
    q: Search = None,
) -> dict[str, Any]:
    page = list_recalls(session, _brand(access, brand_id), gtin, q, paging.limit, paging.cursor)
    return paging.answer(page)


@router.get("/v1/api-keys", response_model=ApiKeyPage, tags=["api keys"], summary="API keys, newest first (admin)")
def api_keys(
    admin: AdminDep,
    session: SessionDep,
    paging: PagingDep,
    role: Literal["admin", "program", "checkout", "organisation"] | None = None,
    active: bool | None = Query(None, description="true: not revoked; false: revoked."),
    q: Search = None,
) -> dict[str, Any]:
    page = list_api_keys(session, role, active, q, paging.limit, paging.cursor)
    return paging.answer(page)
