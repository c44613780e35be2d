"""API keys: stored as SHA-256 digests, each bound to a role and, for checkout, program and
organisation keys, to the one store, retailer or organisation it may act for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from backend.db.types import UTCDateTime, utcnow


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(max_length=32, unique=True, description="Public prefix, safe to log.")
    key_hash: str = Field(max_length=64, description="SHA-256 of the whole key.")
    role: str = Field(max_length=16)
    store_id: str | None = Field(default=None, foreign_key="stores.id", max_length=64)
    org_id: str | None = Field(default=None, foreign_key="organisations.id", max_length=64)
    retailer_id: str | None = Field(default=None, foreign_key="retailers.id", max_length=64)
    label: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class ConsoleSession(SQLModel, table=True):
    """A person signed in to the program console with an API key (``backend/web/console.py``).

    The cookie holds a random token of its own; only its digest is stored, and the API key that
    opened the session never reaches a cookie. The session has the key's powers, no more, for
    ``CREDANCE_CONSOLE_SESSION_TTL`` at most: it ends at sign-out, at expiry, or when the key
    is revoked."""

    __tablename__ = "console_sessions"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=32, unique=True, description="Public id (CSRF tokens, logs).")
    token_hash: str = Field(max_length=64, unique=True, description="SHA-256 of the cookie's token.")
    key_id: str = Field(foreign_key="api_keys.key_id", max_length=32, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
