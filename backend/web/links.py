"""One-time sign-in links to a member's pages, as a retailer's backend would send them (by e-mail,
text message, or a QR code on a receipt): ``make run`` prints one for the demo member, and
``credance loyalty sign-in-link CUSTOMER`` makes another. The link carries a customer token that
the sign-in exchanges for the session's own (``sessions.exchange``), so it works once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from backend.consent.tokens import issue_token
from backend.db.engine import session_scope
from backend.loyalty.customers import get_customer
from backend.settings import Settings


def sign_in_link(engine: Engine, settings: Settings, customer_id: str, base_url: str | None = None) -> str:
    """A link that signs ``customer_id`` in once, within ``CREDANCE_CUSTOMER_TOKEN_MAX_TTL``."""
    longest = timedelta(seconds=settings.customer_token_max_ttl)
    with session_scope(engine, write=True) as session:
        token, _ = issue_token(session, get_customer(session, customer_id), "sign-in-link", longest, longest)
    return f"{(base_url or settings.resolved_public_url).rstrip('/')}/me/sign-in?token={token}"
