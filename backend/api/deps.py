"""Typed dependencies: application state, database sessions, the authenticated principal (what
each route admits is declared in ``backend.api.policy``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from backend.api.audit import note_actor
from backend.api.auth import KeyVerifier, Principal
from backend.api.writer import GroupCommitWriter
from backend.db.engine import session_scope
from backend.errors import DomainError
from backend.loyalty.purchases import PurchaseInput, PurchaseOutcome
from backend.settings import Settings

if TYPE_CHECKING:
    from backend.api.reads import MemberReads


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    verifier: KeyVerifier
    purchases: GroupCommitWriter[PurchaseInput, PurchaseOutcome]
    reads: MemberReads | None = None  # balance and history on the read executor

    @property
    def member_reads(self) -> MemberReads:
        assert self.reads is not None, "create_app sets the read executor"
        return self.reads

    def write(self) -> AbstractContextManager[Session]:
        """A unit of work that commits on success."""
        return session_scope(self.engine, write=True)


def app_state(request: Request) -> AppState:
    """The application's state (a plain call: the checkout route takes no dependency it can avoid)."""
    state: AppState = request.app.state.credance
    return state


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
        super().__init__(
            auto_error=False,
            scheme_name="HTTPBearer",
            description="API key or customer token: `Authorization: Bearer <key>`",
        )

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("missing API key: send `Authorization: Bearer <key>`", field="Authorization")
        principal = await app_state(request).verifier.verify_async(key.strip())
        if principal is None:
            raise Unauthorized("invalid, expired or revoked API key or customer token", field="Authorization")
        note_actor(request.scope, principal)  # the audit log's "who" (backend/api/audit.py)
        return principal


get_principal = ApiKeyAuth()


def __getattr__(name: str) -> Any:
    """Route dependencies moved to the policy layer (``backend.api.policy``); these names still
    resolve there, so code written against the old ones declares a policy all the same."""
    if name in ("AdminDep", "OrganisationDep", "PrincipalDep"):
        from backend.api import policy

        return getattr(policy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
