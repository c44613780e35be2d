"""Tenancy and customer consent: retailers (who own stores), customer tokens (short-lived bearer
tokens for one customer), one-time till codes, Sign-In with Ethereum nonces and wallet claims.

Secrets (tokens, codes) are stored only as digests, like API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.db.types import BigIntId, UTCDateTime, time_column, utcnow


class Retailer(SQLModel, table=True):
    """A company that runs stores in the program. Its checkout keys act for one of its stores;
    its program key (its own backend) issues customer tokens and reads members."""

    __tablename__ = "retailers"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=time_column())


class CustomerToken(SQLModel, table=True):
    """A bearer token for one customer, issued by an admin or program key (or by Sign-In with
    Ethereum), short-lived and revocable. Only its SHA-256 digest is kept."""

    __tablename__ = "customer_tokens"
    __table_args__ = (Index("ix_customer_tokens_customer", "customer_id", "expires_at"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    token_id: str = Field(max_length=32, unique=True, description="Public prefix, safe to log.")
    token_hash: str = Field(max_length=64, description="SHA-256 of the whole token.")
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    scopes: str = Field(max_length=200, description="Comma-separated scopes, sorted.")
    issued_by: str = Field(max_length=80, description="key_id of the issuing key, or siwe:<wallet>.")
    created_at: datetime = Field(default_factory=utcnow, sa_column=time_column())
    expires_at: datetime = Field(sa_column=time_column())
    revoked_at: datetime | None = Field(default=None, sa_column=time_column(nullable=True))


class TillCode(SQLModel, table=True):
    """A one-time code the customer shows at a till so that the till may spend their points once.
    Stored as a salted SHA-256; wrong guesses are counted and burn the code at the limit."""

    __tablename__ = "till_codes"
    __table_args__ = (Index("ix_till_codes_customer", "customer_id", "created_at"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    token_id: str = Field(max_length=32, description="The customer token that asked for it.")
    salt: str = Field(max_length=32)
    code_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=time_column())
    expires_at: datetime = Field(sa_column=time_column())
    attempts: int = Field(default=0, description="Wrong codes presented while it was live.")
    used_at: datetime | None = Field(default=None, sa_column=time_column(nullable=True))
    used_for: str | None = Field(default=None, max_length=300, description="What it authorised (one thing).")
    used_by: str | None = Field(default=None, max_length=32, description="key_id of the till that used it.")


class SiweNonce(SQLModel, table=True):
    """A Sign-In with Ethereum nonce: issued by the server, used once, expiring."""

    __tablename__ = "siwe_nonces"

    nonce: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=time_column())
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    used_at: datetime | None = Field(default=None, sa_column=time_column(nullable=True))


class WalletClaim(SQLModel, table=True):
    """An accepted wallet claim: the EIP-712 message the wallet signed (its digest) and the
    operation that moved the points. The nonce is the customer's, used once."""

    __tablename__ = "wallet_claims"
    __table_args__ = (UniqueConstraint("customer_id", "nonce", name="uq_wallet_claims_customer_nonce"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    nonce: int = Field(sa_type=BigInteger)
    wallet: str = Field(max_length=42)
    expiry: int = Field(sa_type=BigInteger, description="Unix seconds after which the signed claim is void.")
    digest: str = Field(max_length=66, description="EIP-712 digest of the signed claim.")
    operation_id: int = Field(sa_type=BigIntId, foreign_key="operations.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=time_column())
