"""The program console's session: an API key exchanged for a session cookie.

A person pastes an admin or organisation API key into the sign-in form; the key is checked by the
API's own verifier (the same principal the key has on the API) and a **console session** starts:
a random token of its own in the cookie ``credance_console`` (HttpOnly, ``SameSite=Strict``,
``Path=/console``), stored as a digest and bound to the key. The key never reaches a cookie. The
session has exactly the key's powers (an admin everything, an organisation its own part), every
action then being decided by the API route's policy (``policy.decide``); a checkout (till) or
program key, or a customer token, gets no console (403 naming ``api_key``). The session ends at
sign-out, after ``CREDANCE_CONSOLE_SESSION_TTL`` seconds, or as soon as its key is revoked: each
request looks the session up (no cache: a console is not a hot path, and sign-out is at once
in every process). Forms carry the session's CSRF token (``sessions.csrf_token``), like the
member's pages.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio.to_thread
from fastapi import Request
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.types import Scope

from backend.api.audit import note_actor
from backend.api.auth import KeyVerifier, Principal, Role, digest
from backend.api.deps import Unauthorized, app_state
from backend.db.models import ApiKey, ConsoleSession
from backend.db.types import utcnow
from backend.errors import Forbidden
from backend.settings import Settings
from backend.web.sessions import SessionCookie, csrf_token

PATH = "/console"
# Strict: nobody arrives in the console from a link on another site, so no request from
# elsewhere ever carries the cookie, not even a top-level navigation.
CONSOLE_COOKIE = SessionCookie("credance_console", PATH, "strict")
TOKEN_PREFIX = "csn_"  # noqa: S105 (a prefix, not a secret)
KEY_FIELD = "api_key"
CONSOLE_ROLES = frozenset({Role.ADMIN, Role.ORGANISATION})


class ConsoleSignInNeeded(Unauthorized):
    """No console session, or one that expired, was signed out of, or whose key was revoked."""

    code = "sign_in_needed"


@dataclass(frozen=True)
class ConsoleUser:
    """Who is signed in to the console: their API key's principal, and the session."""

    principal: Principal
    session_id: str
    expires_at: datetime

    @property
    def csrf(self) -> str:
        return csrf_token(f"console:{self.session_id}")

    @property
    def is_admin(self) -> bool:
        return self.principal.role == Role.ADMIN

    @property
    def org_id(self) -> str | None:
        return self.principal.org_id


def lifetime(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.console_session_ttl)


def open_session(session: Session, settings: Settings, verifier: KeyVerifier, api_key: str, scope: Scope) -> str:
    """Check the key as the API would, and start a session for it: the cookie's token. The key's
    principal is the request's actor (the audit log records the sign-in, done or refused)."""
    key = api_key.strip()
    principal = verifier.verify(key) if key and not key.startswith(TOKEN_PREFIX) else None
    if principal is None:
        raise Unauthorized("this API key is invalid or revoked", field=KEY_FIELD)
    session_id = secrets.token_hex(12)
    note_actor(scope, principal, session_id)
    if principal.role not in CONSOLE_ROLES:
        raise Forbidden(
            f"a {principal.role.value} key or token has no console: sign in with an admin or organisation key",
            field=KEY_FIELD,
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            session_id=session_id,
            token_hash=digest(token),
            key_id=principal.key_id,
            expires_at=utcnow() + lifetime(settings),
        )
    )
    return token


def session_of(engine: Engine, token: str) -> ConsoleUser | None:
    """The live session of a cookie's token (None: unknown, ended, expired, or its key revoked)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_hash = digest(token)
    with Session(engine) as session:
        found = session.exec(
            select(ConsoleSession, ApiKey)
            .join(ApiKey, col(ApiKey.key_id) == col(ConsoleSession.key_id))
            .where(ConsoleSession.token_hash == token_hash)
        ).first()
    if found is None:
        return None
    record, key = found
    live = record.ended_at is None and record.expires_at > utcnow() and key.revoked_at is None
    if not live or not hmac.compare_digest(record.token_hash, token_hash) or Role(key.role) not in CONSOLE_ROLES:
        return None
    principal = Principal(key.key_id, Role(key.role), key.store_id, key.org_id, key.retailer_id)
    return ConsoleUser(principal, record.session_id, record.expires_at)


async def console_user(request: Request) -> ConsoleUser:
    """The console session of the request's cookie; ``ConsoleSignInNeeded`` without a live one."""
    token = request.cookies.get(CONSOLE_COOKIE.name)
    state = app_state(request)
    user = (
        await anyio.to_thread.run_sync(session_of, state.engine, token, limiter=state.verifier.limiter)
        if token
        else None
    )
    if user is None:
        raise ConsoleSignInNeeded("sign in to the console with your API key", field=CONSOLE_COOKIE.name)
    note_actor(request.scope, user.principal, user.session_id)  # the audit log's "who"
    return user


def close_session(session: Session, user: ConsoleUser) -> None:
    """Sign out: the session's token is worth nothing from now on, copied or not."""
    record = session.exec(select(ConsoleSession).where(ConsoleSession.session_id == user.session_id)).one()
    record.ended_at = utcnow()
    session.add(record)
