"""``GET /v1/audit-log``: the admin actions recorded by ``backend/api/audit.py`` (an admin reads
every entry; an organisation the entries of its own keys, another ``org_id`` is refused)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from backend import lists
from backend.api.audit import SINCE_PATTERN, parse_since
from backend.api.auth import Role
from backend.api.deps import SessionDep
from backend.api.listing import PagingDep
from backend.api.policy import AUDIT_READ, Access
from backend.api.schemas.common import ERROR_RESPONSES, Slug
from backend.api.schemas.lists import AuditPage

router = APIRouter(responses=ERROR_RESPONSES)


def seen_by(access: Access, org_id: str | None) -> str | None:
    """The organisation whose entries a caller reads: an organisation's own (the policy refused any
    other); an admin's choice (None: every entry)."""
    return access.org_id if access.role == Role.ORGANISATION else org_id


@router.get("/v1/audit-log", response_model=AuditPage, tags=["audit"], summary="Admin actions, newest first")
def audit_log(
    access: Annotated[Access, Depends(AUDIT_READ)],
    session: SessionDep,
    paging: PagingDep,
    org_id: Slug | None = Query(None, description="An organisation's keys (an organisation key: its own)."),
    key_id: Annotated[str | None, Query(max_length=32)] = None,
    route: Annotated[str | None, Query(min_length=1, max_length=100, description="Text of the route template.")] = None,
    outcome: Literal["done", "refused", "failed"] | None = None,
    since: Annotated[
        str | None, Query(pattern=SINCE_PATTERN, description="Entries at or after this ISO 8601 date or date-time.")
    ] = None,
) -> dict[str, Any]:
    """Every write an admin, organisation or program key sent (or a console session opened with
    one): who, what, when, and whether it was done or refused. No bodies, no personal data."""
    page = lists.list_audit_entries(
        session, seen_by(access, org_id), key_id, route, outcome, parse_since(since), paging.limit, paging.cursor
    )
    return paging.answer(page)
