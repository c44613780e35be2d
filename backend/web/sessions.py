"""Sessions on the pages: an HttpOnly, SameSite cookie per page set (``SessionCookie``), CSRF tokens
keyed on the session's id, and the double-submit value of a sign-in form. The member's session
(below) holds a customer token of its own; the console's (``console.py``) a token of its own
opened with an API key.

Signing in exchanges what the retailer gave the member (the customer token of a one-time link,
or one pasted by hand) for a new token issued to the session: same customer, same scopes (never
more), ``CREDANCE_CUSTOMER_TOKEN_MAX_TTL`` long. The link's token is revoked in the same unit of
work, so a link signs in once. Signing out revokes the session's token: a copied cookie is then
worth nothing (void at once in this process, within the verifier's cache time in the others).
Sign-In with Ethereum (``backend/consent/siwe.py``) starts the same kind of session.

Every form of a session carries a CSRF token: the keyed reference (``refs``, audience ``web``)
of the session's token id, which another site can neither read (the cookie is HttpOnly, the page
is same-origin) nor compute (it needs the server's secret). The sign-in form, before any session,
uses a double-submit cookie instead, so another site cannot sign a member into its own account.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol

import anyio.to_thread
from fastapi import Request, Response
from sqlmodel import Session

from backend.api.auth import Principal, Role
from backend.api.deps import Unauthorized, app_state
from backend.consent.tokens import Scope, is_customer_token, issue_token, lookup_token, revoke_token
from backend.db.models import Customer
from backend.errors import Forbidden
from backend.loyalty.customers import get_customer
from backend.loyalty.refs import Audience, references
from backend.settings import Settings

SESSION_COOKIE = "credance_member"
SIGN_IN_COOKIE = "credance_sign_in"
CSRF_FIELD = "csrf_token"
PATH = "/me"
SIGN_IN_SECONDS = 600  # how long a sign-in form stays usable


class SignInNeeded(Unauthorized):
    """No session, or one that expired or was closed (the page offers to sign in)."""

    code = "sign_in_needed"


class CsrfRefused(Forbidden):
    code = "csrf_refused"


@dataclass(frozen=True)
class SessionCookie:
    """Where a page set keeps its session: the cookie's name and path (no other page set's
    requests carry it), and its SameSite rule. Always HttpOnly; Secure behind HTTPS."""

    name: str
    path: str
    samesite: Literal["lax", "strict"]

    def set(self, response: Response, settings: Settings, token: str, seconds: int) -> None:
        response.set_cookie(
            self.name,
            token,
            max_age=seconds,
            path=self.path,
            httponly=True,
            samesite=self.samesite,
            secure=_secure(settings),
        )

    def clear(self, response: Response, settings: Settings) -> None:
        response.delete_cookie(
            self.name, path=self.path, httponly=True, samesite=self.samesite, secure=_secure(settings)
        )


# Lax, not Strict: a member arriving from a receipt's QR code or a link is signed in; a post
# from another site carries no cookie, and every form also needs the CSRF token.
MEMBER_COOKIE = SessionCookie(SESSION_COOKIE, PATH, "lax")


class WithCsrf(Protocol):
    """A signed-in session: its forms carry this value."""

    @property
    def csrf(self) -> str: ...


@dataclass(frozen=True)
class MemberSession:
    """The signed-in member: their customer token's principal."""

    principal: Principal

    @property
    def customer_id(self) -> str:
        assert self.principal.customer_id is not None
        return self.principal.customer_id

    @property
    def token_id(self) -> str:
        return self.principal.key_id

    @property
    def csrf(self) -> str:
        return csrf_token(self.token_id)


def csrf_token(token_id: str) -> str:
    return references().reference(Audience.WEB, "csrf", token_id)[2:]


async def member_of(request: Request) -> MemberSession:
    """The session of the request's cookie; ``SignInNeeded`` without a live one."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not is_customer_token(token):
        raise SignInNeeded("sign in to see your points", field=SESSION_COOKIE)
    principal = await anyio.to_thread.run_sync(app_state(request).verifier.verify, token)
    if principal is None or principal.role != Role.CUSTOMER:
        raise SignInNeeded("your session has ended (expired or signed out): sign in again", field=SESSION_COOKIE)
    return MemberSession(principal)


def check_csrf(signed_in: WithCsrf, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(sent, signed_in.csrf):
        raise CsrfRefused("this form was not sent from your page (missing or wrong CSRF token)", field=CSRF_FIELD)


def check_sign_in_csrf(request: Request, sent: str | None) -> None:
    cookie = request.cookies.get(SIGN_IN_COOKIE)
    if not sent or not cookie or not hmac.compare_digest(sent, cookie):
        raise CsrfRefused("this sign-in form was not sent from our sign-in page: open it again", field=CSRF_FIELD)


def lifetime(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.customer_token_max_ttl)


def exchange(session: Session, settings: Settings, link_token: str) -> tuple[str, Customer]:
    """Use the link's token once: revoke it, and issue the session's token (same customer and
    scopes). Refused (401 naming ``token``) when it is unknown, expired, revoked or used."""
    grant = lookup_token(session, link_token) if is_customer_token(link_token) else None
    if grant is None:
        raise Unauthorized("this sign-in link or token is invalid, expired or already used", field="token")
    customer = get_customer(session, grant.customer_id)
    revoke_token(session, customer, grant.token_id)
    return start(session, settings, customer, f"web:{grant.token_id}", grant.scopes), customer


def start(session: Session, settings: Settings, customer: Customer, issued_by: str, scopes: Iterable[Scope]) -> str:
    token, _ = issue_token(session, customer, issued_by, lifetime(settings), lifetime(settings), scopes)
    return token


def end(session: Session, member: MemberSession) -> None:
    """Revoke the session's token (sign out)."""
    revoke_token(session, get_customer(session, member.customer_id), member.token_id)


def _secure(settings: Settings) -> bool:
    return settings.resolved_public_url.startswith("https://")


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    MEMBER_COOKIE.set(response, settings, token, int(lifetime(settings).total_seconds()))


def clear_session_cookie(response: Response, settings: Settings) -> None:
    MEMBER_COOKIE.clear(response, settings)


def set_sign_in_cookie(response: Response, settings: Settings, value: str, path: str = PATH) -> None:
    """The sign-in form's double-submit value, for the page set under ``path``."""
    response.set_cookie(
        SIGN_IN_COOKIE,
        value,
        max_age=SIGN_IN_SECONDS,
        path=path,
        httponly=True,
        samesite="strict",
        secure=_secure(settings),
    )
