from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import col, select

from backend.api.deps import AdminDep, SessionDep, StateDep
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.loyalty import StoreIn, StoreOut
from backend.db.models import Store
from backend.errors import Conflict

router = APIRouter(prefix="/v1/stores", tags=["stores"], responses=ERROR_RESPONSES)


@router.post("", response_model=StoreOut, status_code=201, summary="Create a store (admin)")
def create_store(body: StoreIn, admin: AdminDep, state: StateDep) -> Store:
    with state.write() as session:
        if session.get(Store, body.id) is not None:
            raise Conflict(f"store {body.id!r} already exists", field="id")
        store = Store(id=body.id, name=body.name, currency=body.currency)
        session.add(store)
        return store


@router.get("", response_model=list[StoreOut], summary="List stores (admin)")
def list_stores(admin: AdminDep, session: SessionDep) -> list[Store]:
    return list(session.exec(select(Store).order_by(col(Store.id))).all())
