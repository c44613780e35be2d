"""Retailers: the companies that run stores in the program (admin)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import Session, col, select

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import AdminDep
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.consent import RetailerIn, RetailerOut
from backend.db.models import Retailer
from backend.errors import Conflict

router = APIRouter(prefix="/v1/retailers", tags=["stores"], responses=ERROR_RESPONSES)


@router.post("", response_model=RetailerOut, status_code=201, summary="Add a retailer (admin)")
def create_retailer(body: RetailerIn, admin: AdminDep, state: StateDep) -> Retailer:
    """A retailer owns stores (``POST /v1/stores`` with its ``retailer_id``); its program key
    (``POST /v1/api-keys`` with role ``program``) issues customer tokens and reads its stores."""
    with state.write() as session:
        return add_retailer(session, body)


def add_retailer(session: Session, body: RetailerIn) -> Retailer:
    """A new retailer (the console's form calls this too)."""
    if session.get(Retailer, body.id) is not None:
        raise Conflict(f"retailer {body.id!r} already exists", field="id")
    retailer = Retailer(id=body.id, name=body.name)
    session.add(retailer)
    return retailer


@router.get("", response_model=list[RetailerOut], summary="List retailers (admin)")
def list_retailers(admin: AdminDep, session: SessionDep) -> list[Retailer]:
    return list(session.exec(select(Retailer).order_by(col(Retailer.id))).all())
