"""Customer tokens: a short-lived bearer token that lets one customer act for themselves.

The retailer's own backend (a program key) or an admin issues one for a customer it has
authenticated, the way payment platforms issue ephemeral keys; Sign-In with Ethereum issues one to
a self-custodied member. A token is 32 random bytes behind the ``cust_`` prefix, stored as a
SHA-256 digest (like API keys: random enough that a fast digest is safe), bound to one customer,
limited to its scopes, and void once expired or revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session, col, select

from backend.db.models import Customer, CustomerToken
from backend.db.types import utcnow
from backend.errors import Unprocessable

TOKEN_PREFIX = "cust_"  # noqa: S105 (a prefix, not a secret)
MIN_LIFETIME = timedelta(seconds=60)


class Scope(StrEnum):
    """What a customer token lets its holder do, for that customer only."""

    READ = "read"  # balance, history, profile, redemptions
    REDEEM = "redeem"  # redeem rewards; ask for a one-time till code
    TRANSFER = "transfer"  # give points to another member
    CONVERT = "convert"  # agree to a partner-points conversion
    WALLET = "wallet"  # claim an own wallet (with the wallet's EIP-712 signature)
    PASSPORTS = "passports"  # claim the passport of an item bought; give a passport to another member
    COLLECTIBLES = "collectibles"  # show a collectible as a ticket; vote in a poll of its holders; give copies


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True)
class TokenGrant:
    """What a valid token says: who it is for, what it allows, until when."""

    token_id: str
    customer_id: str  # the customer's external id, as in API paths
    scopes: frozenset[Scope]
    expires_at: datetime
    issued_by: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id_of(token: str) -> str:
    return token[: len(TOKEN_PREFIX) + 8]


def is_customer_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def encode_scopes(scopes: Iterable[Scope]) -> str:
    return ",".join(sorted(Scope(s).value for s in scopes))


def decode_scopes(text: str) -> frozenset[Scope]:
    return frozenset(Scope(s) for s in text.split(",") if s)


def issue_token(
    session: Session,
    customer: Customer,
    issued_by: str,
    lifetime: timedelta,
    max_lifetime: timedelta,
    scopes: Iterable[Scope] = ALL_SCOPES,
    now: datetime | None = None,
) -> tuple[str, CustomerToken]:
    """Store a new token for ``customer`` and return it (shown once) with its record."""
    if not MIN_LIFETIME <= lifetime <= max_lifetime:
        raise Unprocessable(
            f"a customer token lives between {int(MIN_LIFETIME.total_seconds())} and "
            f"{int(max_lifetime.total_seconds())} seconds",
            field="ttl_seconds",
        )
    wanted = frozenset(Scope(s) for s in scopes)
    if not wanted:
        raise Unprocessable("a customer token needs at least one scope", field="scopes")
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert customer.id is not None
    record = CustomerToken(
        token_id=token_id_of(token),
        token_hash=digest(token),
        customer_id=customer.id,
        scopes=encode_scopes(wanted),
        issued_by=issued_by[:80],
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(record)
    session.flush()
    return token, record


def lookup_token(session: Session, token: str, now: datetime | None = None) -> TokenGrant | None:
    """The grant of a valid token; None if it is unknown, revoked or expired."""
    now = now or utcnow()
    row = session.exec(
        select(CustomerToken, Customer.external_id)
        .join(Customer, col(Customer.id) == CustomerToken.customer_id)
        .where(CustomerToken.token_id == token_id_of(token))
    ).first()
    if row is None:
        return None
    record, external_id = row
    if not hmac.compare_digest(record.token_hash, digest(token)):
        return None
    if record.revoked_at is not None or record.expires_at <= now:
        return None
    return TokenGrant(record.token_id, external_id, decode_scopes(record.scopes), record.expires_at, record.issued_by)


def revoke_token(session: Session, customer: Customer, token_id: str, now: datetime | None = None) -> bool:
    """Revoke one of the customer's tokens; False if it is not theirs or already void."""
    now = now or utcnow()
    record = session.exec(
        select(CustomerToken).where(CustomerToken.token_id == token_id, CustomerToken.customer_id == customer.id)
    ).first()
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        return False
    record.revoked_at = now
    session.add(record)
    return True


def revoke_customer_tokens(session: Session, customer: Customer, now: datetime | None = None) -> list[str]:
    """Revoke every live token of the customer ("sign out everywhere"); their ids."""
    now = now or utcnow()
    live = session.exec(
        select(CustomerToken).where(
            CustomerToken.customer_id == customer.id,
            col(CustomerToken.revoked_at).is_(None),
            col(CustomerToken.expires_at) > now,
        )
    ).all()
    for record in live:
        record.revoked_at = now
        session.add(record)
    return [record.token_id for record in live]
