"""Typed dependencies: application state, database sessions, the authenticated principal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from backend.api.auth import KeyVerifier, Principal, Role
from backend.api.writer import GroupCommitWriter
from backend.db.engine import session_scope
from backend.errors import DomainError, Forbidden
from backend.loyalty.purchases import PurchaseInput, PurchaseOutcome
from backend.settings import Settings


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    verifier: KeyVerifier
    purchases: GroupCommitWriter[PurchaseInput, PurchaseOutcome]

    def write(self) -> AbstractContextManager[Session]:
        """A unit of work that commits on success."""
        return session_scope(self.engine, write=True)


def app_state(request: Request) -> AppState:
    """The application's state (a plain call: the checkout route takes no dependency it can avoid)."""
    return request.app.state.credance


# The dependencies of every call are async: a sync one costs a thread-pool hop per request.
async def get_state(request: Request) -> AppState:
    return app_state(request)


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with Session(state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


class ApiKeyAuth(HTTPBearer):
    """The caller's principal, from ``Authorization: Bearer <key>`` (401 without a valid key).

    One dependency that is also the OpenAPI security scheme (``HTTPBearer``): every protected call
    solves it, and each dependency FastAPI solves costs tens of microseconds on the checkout path.
    """

    def __init__(self) -> None:
        super().__init__(auto_error=False, scheme_name="HTTPBearer",
                         description="API key: `Authorization: Bearer <key>`")  # fmt: skip

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("missing API key: send `Authorization: Bearer <key>`", field="Authorization")
        principal = app_state(request).verifier.verify(key.strip())
        if principal is None:
            raise Unauthorized("invalid or revoked API key", field="Authorization")
        return principal


get_principal = ApiKeyAuth()
PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    if principal.role != Role.ADMIN:
        raise Forbidden("this call needs an admin key", field="Authorization")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def require_organisation(principal: PrincipalDep) -> Principal:
    if principal.role != Role.ORGANISATION:
        raise Forbidden("this call needs an organisation key", field="Authorization")
    return principal


OrganisationDep = Annotated[Principal, Depends(require_organisation)]


def may_act_for(principal: Principal, store_id: str) -> bool:
    """Admins act for every store; a checkout key only for its own."""
    return principal.role == Role.ADMIN or (principal.role == Role.CHECKOUT and principal.store_id == store_id)


def check_store_access(principal: Principal, store_id: str) -> None:
    if may_act_for(principal, store_id):
        return
    raise Forbidden(f"this key may not act for store {store_id!r}", field="store_id")


def require_customer_reader(principal: PrincipalDep) -> Principal:
    if principal.role not in (Role.ADMIN, Role.CHECKOUT):
        raise Forbidden("this call needs an admin or checkout key", field="Authorization")
    return principal


CustomerReaderDep = Annotated[Principal, Depends(require_customer_reader)]
