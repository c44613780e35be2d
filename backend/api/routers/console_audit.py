"""The console's audit log page (``/console/audit-log``, and its CSV): the entries
``GET /v1/audit-log`` answers (``backend/api/audit.py``), with the same policy: an admin reads
every entry, an organisation the entries of its own keys."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from backend import lists
from backend.api.audit import OUTCOMES, parse_since
from backend.api.deps import StateDep
from backend.api.policy import AUDIT_READ
from backend.api.routers.audit_log import seen_by
from backend.api.routers.console_pages import User, _allowed, _context, csv_answer, router_for
from backend.db.pages import MAX_LIMIT
from backend.errors import Unprocessable
from backend.web import csv_export
from backend.web.console import ConsoleUser
from backend.web.pages import page

router = router_for()
FILTERS = ("key_id", "route", "outcome", "since", "org_id")


def _filters(request: Request, user: ConsoleUser) -> dict[str, str]:
    filters = {name: request.query_params.get(name, "").strip()[:100] for name in FILTERS}
    if filters["outcome"] and filters["outcome"] not in OUTCOMES:
        raise Unprocessable(f"outcome is one of {', '.join(OUTCOMES)}", field="outcome")
    _allowed(AUDIT_READ, user, filters["org_id"] or None)  # another organisation's: 403, field org_id
    return filters


def _rows(session: Session, user: ConsoleUser, filters: dict[str, str], limit: int, cursor: str | None) -> Any:
    access = _allowed(AUDIT_READ, user, filters["org_id"] or None)
    return lists.list_audit_entries(
        session,
        seen_by(access, filters["org_id"] or None),
        filters["key_id"] or None,
        filters["route"] or None,
        filters["outcome"] or None,
        parse_since(filters["since"]),
        limit,
        cursor,
    )


@router.get("/audit-log")
def audit_log(request: Request, user: User, state: StateDep, cursor: str | None = None) -> Response:
    filters = _filters(request, user)
    with Session(state.engine) as session:
        found = _rows(session, user, filters, 50, cursor)
    query = urlencode({k: v for k, v in filters.items() if v})
    shown = _context(user, "audit", page=found, filters=filters, outcomes=OUTCOMES, query=query)
    return page(request, "console/audit_log.html", shown)


@router.get("/audit-log.csv")
def audit_log_csv(request: Request, user: User, state: StateDep) -> Response:
    filters = _filters(request, user)
    with Session(state.engine) as session:
        rows = csv_export.every_row(lambda cursor: _rows(session, user, filters, MAX_LIMIT, cursor))
    return csv_answer("audit-log", rows)
