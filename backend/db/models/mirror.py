"""The SQL mirror of on-chain state, written only by the indexer from contract events.

Everything here can be rebuilt from the chain; `credance reconcile` proves it matches.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, SQLModel

from backend.db.types import BigIntId


class MirrorTokenState(SQLModel, table=True):
    __tablename__ = "mirror_token_state"

    id: int = Field(default=1, primary_key=True)
    total_supply: int = Field(default=0, sa_type=BigInteger)
    paused: bool = False
    member_transfers_enabled: bool = False
    daily_transfer_cap: int = Field(default=0, sa_type=BigInteger)
    latest_rule_version: int = 0
    registry_paused: bool = False
    passports_paused: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    collectibles_paused: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


class MirrorRole(SQLModel, table=True):
    """AccessControl roles currently held, per contract."""

    __tablename__ = "mirror_roles"

    contract: str = Field(primary_key=True, max_length=40)
    role: str = Field(primary_key=True, max_length=66)
    account: str = Field(primary_key=True, max_length=42)
    block_number: int = Field(sa_type=BigInteger)


class MirrorAccount(SQLModel, table=True):
    __tablename__ = "mirror_accounts"

    address: str = Field(primary_key=True, max_length=42)
    balance: int = Field(default=0, sa_type=BigInteger)
    debt: int = Field(default=0, sa_type=BigInteger)
    self_custodied: bool = False
    last_block: int = Field(default=0, sa_type=BigInteger)


class MirrorLedgerEntry(SQLModel, table=True):
    """One balance-relevant event of one account: the customer's history."""

    __tablename__ = "mirror_ledger"
    __table_args__ = (Index("ix_mirror_ledger_account_block", "account", "block_number", "log_index"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    account: str = Field(max_length=42)
    kind: str = Field(max_length=24)
    amount: int = Field(sa_type=BigInteger)
    debt_change: int = Field(default=0, sa_type=BigInteger)
    operation_id: int | None = Field(default=None, sa_type=BigIntId, index=True)
    ref: str | None = Field(default=None, max_length=66)
    counterparty: str | None = Field(default=None, max_length=42)
    rule_version: int | None = None
    block_number: int = Field(sa_type=BigInteger)
    block_time: int = Field(default=0, sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)
    log_index: int


class MirrorRuleSet(SQLModel, table=True):
    __tablename__ = "mirror_rule_sets"

    version: int = Field(primary_key=True)
    content_hash: str = Field(max_length=66)
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)


class MirrorOrganisation(SQLModel, table=True):
    __tablename__ = "mirror_organisations"

    org_id: str = Field(primary_key=True, max_length=66)
    controller: str = Field(max_length=42, index=True)
    roles: int
    active: bool
    block_number: int = Field(sa_type=BigInteger)


class MirrorPartnerRole(SQLModel, table=True):
    """``brand_id`` is the owner that granted the roles (PartnerRolesUpdated ``ownerId``)."""

    __tablename__ = "mirror_partner_roles"

    brand_id: str = Field(primary_key=True, max_length=66)
    partner_id: str = Field(primary_key=True, max_length=66)
    roles: int
    block_number: int = Field(sa_type=BigInteger)


class MirrorCompanyPrefix(SQLModel, table=True):
    __tablename__ = "mirror_company_prefixes"

    prefix_key: int = Field(primary_key=True, sa_type=BigInteger, description="10**digits + prefix.")
    prefix: str = Field(max_length=12)
    org_id: str = Field(max_length=66)
    block_number: int = Field(sa_type=BigInteger)


class MirrorProduct(SQLModel, table=True):
    __tablename__ = "mirror_products"

    gtin: str = Field(primary_key=True, max_length=14)
    brand_id: str = Field(max_length=66)
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)


class MirrorItemBatch(SQLModel, table=True):
    __tablename__ = "mirror_item_batches"

    root: str = Field(primary_key=True, max_length=66)
    gtin: str = Field(max_length=14, index=True)
    manufacturer_id: str = Field(max_length=66)
    count: int
    block_number: int = Field(sa_type=BigInteger)
    block_time: int = Field(default=0, sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)


class MirrorEventAnchor(SQLModel, table=True):
    __tablename__ = "mirror_event_anchors"

    root: str = Field(primary_key=True, max_length=66)
    org_id: str = Field(max_length=66)
    count: int
    block_number: int = Field(sa_type=BigInteger)
    block_time: int = Field(default=0, sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)


class MirrorRecall(SQLModel, table=True):
    __tablename__ = "mirror_recalls"

    recall_id: int = Field(primary_key=True)
    gtin: str = Field(max_length=14, index=True)
    brand_id: str = Field(max_length=66)
    scope_root: str = Field(max_length=66, index=True)
    count: int
    reason_ref: str = Field(max_length=66)
    block_number: int = Field(sa_type=BigInteger)
    block_time: int = Field(default=0, sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)
