"""Request and response models of tenancy and customer consent: retailers, customer tokens,
one-time till codes, Sign-In with Ethereum."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictInt

from backend.api.schemas.common import Slug, StrictModel
from backend.api.schemas.program import Signature

ScopeName = Literal["read", "redeem", "transfer", "convert", "wallet", "collectibles"]


class RetailerIn(StrictModel):
    id: Slug
    name: str = Field(min_length=1, max_length=200)


class RetailerOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class CustomerTokenIn(StrictModel):
    ttl_seconds: StrictInt | None = Field(
        default=None,
        ge=1,
        le=86_400,
        description="Lifetime; CREDANCE_CUSTOMER_TOKEN_TTL by default, at most CREDANCE_CUSTOMER_TOKEN_MAX_TTL.",
    )
    scopes: list[ScopeName] | None = Field(
        default=None, min_length=1, max_length=5, description="What the token may do (default: all)."
    )


class CustomerTokenOut(BaseModel):
    token: str = Field(description="Shown once; only its digest is stored. `Authorization: Bearer <token>`.")
    token_id: str = Field(description="Public id (to revoke it).")
    customer_id: str
    scopes: list[str]
    expires_at: datetime


class RevokedOut(BaseModel):
    revoked: list[str] = Field(description="Ids of the tokens revoked.")


class TillCodeOut(BaseModel):
    code: str = Field(description="8 digits, shown once: the customer shows it to the till.")
    customer_id: str
    expires_at: datetime


class SiweNonceOut(BaseModel):
    """A nonce and every field the message must carry to sign in here."""

    nonce: str
    expires_at: datetime
    domain: str
    uri: str
    chain_id: int
    version: str
    statement: str


class SiweSessionIn(StrictModel):
    message: str = Field(min_length=1, max_length=4096, description="The EIP-4361 message, as signed.")
    signature: Signature = Field(description="The wallet's EIP-191 (personal_sign) signature of the message.")


class SiweSessionOut(CustomerTokenOut):
    address: str = Field(description="The wallet that signed in.")
