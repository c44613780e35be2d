from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlmodel import Session

from backend.api.auth import Role, create_api_key, revoke_api_key
from backend.api.deps import AppState, StateDep
from backend.api.policy import AdminDep
from backend.api.schemas.common import ERROR_RESPONSES, Slug, StrictModel
from backend.db.models import Organisation, Retailer, Store
from backend.errors import NotFound

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"], responses=ERROR_RESPONSES)


class ApiKeyIn(StrictModel):
    role: Literal["admin", "program", "checkout", "organisation"] = Field(
        description="admin; program (a retailer's own backend: retailer_id); checkout (store_id); organisation (org_id)"
    )
    store_id: Slug | None = None
    org_id: Slug | None = None
    retailer_id: Slug | None = None
    label: str = Field(default="", max_length=200)


class ApiKeyOut(BaseModel):
    key: str = Field(description="Shown once; only its digest is stored.")
    key_id: str
    role: str
    store_id: str | None
    org_id: str | None
    retailer_id: str | None = None


@router.post("", response_model=ApiKeyOut, status_code=201, summary="Create an API key (admin)")
def create_key(body: ApiKeyIn, admin: AdminDep, state: StateDep) -> dict[str, Any]:
    with state.write() as session:
        return issue_key(session, body)


def issue_key(session: Session, body: ApiKeyIn) -> dict[str, Any]:
    """A new key bound to what its role needs (the console's form calls this too): the key itself
    is in the answer, shown once; only its digest is stored."""
    role = Role(body.role)
    if role == Role.CHECKOUT and (body.store_id is None or session.get(Store, body.store_id) is None):
        raise NotFound(f"store {body.store_id!r} does not exist", field="store_id")
    if role == Role.ORGANISATION and (body.org_id is None or session.get(Organisation, body.org_id) is None):
        raise NotFound(f"organisation {body.org_id!r} does not exist", field="org_id")
    if role == Role.PROGRAM and (body.retailer_id is None or session.get(Retailer, body.retailer_id) is None):
        raise NotFound(f"retailer {body.retailer_id!r} does not exist", field="retailer_id")
    key, record = create_api_key(
        session,
        role,
        store_id=body.store_id if role == Role.CHECKOUT else None,
        org_id=body.org_id if role == Role.ORGANISATION else None,
        retailer_id=body.retailer_id if role == Role.PROGRAM else None,
        label=body.label,
    )
    return {
        "key": key,
        "key_id": record.key_id,
        "role": record.role,
        "store_id": record.store_id,
        "org_id": record.org_id,
        "retailer_id": record.retailer_id,
    }


@router.delete("/{key_id}", status_code=204, summary="Revoke an API key (admin)")
def revoke_key(key_id: str, admin: AdminDep, state: StateDep) -> None:
    revoke(state, key_id)


def revoke(state: AppState, key_id: str) -> None:
    """Revoke a key, and forget it in this process's verifier at once (the others within seconds)."""
    with state.write() as session:
        if not revoke_api_key(session, key_id):
            raise NotFound(f"no active key {key_id!r}", field="key_id")
    state.verifier.forget({key_id})
