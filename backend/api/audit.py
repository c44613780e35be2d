"""The audit log of admin actions: one place, for the API and the console alike.

Whoever authenticates a request notes its **actor** on the request (``note_actor``): the API key's
verifier (``deps.ApiKeyAuth``), the console's session (``web/console.py``) and the console's
sign-in. ``AuditMiddleware``, the innermost layer around the routes, then writes one
``AuditEntry`` for every write (POST, PUT, PATCH, DELETE) whose actor is an admin, organisation or
program key (a console session is one of these): who (the key id, never the key; the console
session's public id), what (the method, the route template, the ids in the path), when, and the
status it was answered with: done (2xx/3xx), refused (4xx: the policy, a domain rule, a
validation) or failed (5xx). The entry is committed before the answer's first byte leaves, so an
answer the caller saw is in the log (should the log's own write fail, the answer still goes, since
the request's work is already committed, and ``audit.not_recorded`` is logged as an error).

Nothing else is recorded: no body, no query string, no header, so no name, e-mail or phone ever
reaches the log (a customer id appears only as a path reference). A request with no valid key
has no actor and no entry (the rate limits and the access log see those). Purchases, refunds and
member actions (checkout keys, customer tokens) are the program's traffic, not admin actions, and
the checkout's fast path answers before this layer (a purchase it accepts is not logged, even one
sent with an admin key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio.to_thread
import structlog
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.auth import Principal, Role
from backend.db.engine import session_scope
from backend.db.models import AuditEntry
from backend.errors import Unprocessable

log = structlog.get_logger(__name__)

ACTOR = "credance.actor"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDITED_ROLES = frozenset({Role.ADMIN, Role.ORGANISATION, Role.PROGRAM})
LONGEST_ID = 128
OUTCOMES = ("done", "refused", "failed")


@dataclass(frozen=True)
class Actor:
    key_id: str
    role: Role
    org_id: str | None
    console_session: str | None = None


def note_actor(scope: Scope, principal: Principal, console_session: str | None = None) -> None:
    """Who sent this request (read by ``AuditMiddleware`` once it is answered)."""
    if principal.role in AUDITED_ROLES:
        actor = Actor(principal.key_id, principal.role, principal.org_id, console_session)
        scope.setdefault("state", {})[ACTOR] = actor


def outcome_of(status: int) -> str:
    return "done" if status < 400 else "refused" if status < 500 else "failed"


def _path_ids(scope: Scope) -> str:
    params = scope.get("path_params") or {}
    return json.dumps({str(k): str(v)[:LONGEST_ID] for k, v in params.items()}, sort_keys=True)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path", None)
    return str(template)[:200] if template else "(no route)"


def record(engine: Engine, actor: Actor, scope: Scope, status: int) -> None:
    entry = AuditEntry(
        key_id=actor.key_id,
        role=actor.role.value,
        org_id=actor.org_id,
        console_session=actor.console_session,
        method=scope["method"],
        route=_route(scope),
        path_ids=_path_ids(scope),
        status=status,
        outcome=outcome_of(status),
    )
    with session_scope(engine, write=True) as session:
        session.add(entry)


class AuditMiddleware:
    """Writes the audit entry of an admin's write as its answer starts (see the module)."""

    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            await self.app(scope, receive, send)
            return
        recorded = False

        async def write(status: int) -> None:
            nonlocal recorded
            actor = scope.get("state", {}).get(ACTOR)
            if recorded or not isinstance(actor, Actor):
                return
            recorded = True
            try:
                await anyio.to_thread.run_sync(record, self.engine, actor, scope, status)
            except Exception:  # the log must not turn an answer into a 500; say so loudly
                log.exception("audit.not_recorded", key_id=actor.key_id, route=_route(scope), status=status)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                await write(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except BaseException:
            await write(500)
            raise


# -- reading it (the query is lists.list_audit_entries) ----------------------------------------

SINCE_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"


def parse_since(text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time (UTC unless it says otherwise); 422 naming ``since``."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Unprocessable("since is an ISO 8601 date or date-time, e.g. 2026-12-01", field="since") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
