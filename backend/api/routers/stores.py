from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlmodel import Session, col, select

from backend.api.auth import Role
from backend.api.deps import SessionDep, StateDep
from backend.api.policy import STORES, Access, AdminDep
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.loyalty import StoreIn, StoreOut
from backend.db.models import Retailer, Store
from backend.errors import Conflict, NotFound

router = APIRouter(prefix="/v1/stores", tags=["stores"], responses=ERROR_RESPONSES)


@router.post("", response_model=StoreOut, status_code=201, summary="Create a store of a retailer (admin)")
def create_store(body: StoreIn, admin: AdminDep, state: StateDep) -> Store:
    with state.write() as session:
        return add_store(session, body)


def add_store(session: Session, body: StoreIn) -> Store:
    """A new store of an existing retailer (the console's form calls this too)."""
    if session.get(Store, body.id) is not None:
        raise Conflict(f"store {body.id!r} already exists", field="id")
    if session.get(Retailer, body.retailer_id) is None:
        raise NotFound(f"retailer {body.retailer_id!r} does not exist", field="retailer_id")
    store = Store(id=body.id, name=body.name, currency=body.currency, retailer_id=body.retailer_id)
    session.add(store)
    return store


@router.get("", response_model=list[StoreOut], summary="List stores (admin: all; program key: its retailer's)")
def list_stores(access: Annotated[Access, Depends(STORES)], session: SessionDep) -> list[Store]:
    query = select(Store).order_by(col(Store.id))
    if access.role == Role.PROGRAM:
        query = query.where(Store.retailer_id == access.retailer_id)
    return list(session.exec(query).all())
