"""Off-chain provenance records: organisations and their signing keys, products, items."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.db.types import BigIntId, UTCDateTime, utcnow


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"

    id: str = Field(primary_key=True, max_length=64, description="Slug, e.g. demo-brand.")
    name: str = Field(max_length=200)
    chain_id: str = Field(max_length=66, unique=True, description="bytes32 id on chain.")
    roles: int
    controller: str = Field(max_length=42)
    active: bool = Field(default=True, description="False: suspended, may no longer write.")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class OrgSigner(SQLModel, table=True):
    """An organisation's signing key, encrypted (Web3 Secret Storage) with the keystore password."""

    __tablename__ = "org_signers"

    org_id: str = Field(primary_key=True, foreign_key="organisations.id", max_length=64)
    address: str = Field(max_length=42, unique=True)
    keystore: str = Field(sa_column=Column(Text, nullable=False))


class Product(SQLModel, table=True):
    __tablename__ = "products"

    gtin: str = Field(primary_key=True, max_length=14)
    brand_id: str = Field(foreign_key="organisations.id", max_length=64, index=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    category: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class CompanyPrefix(SQLModel, table=True):
    """A GS1 company prefix assigned to an organisation: it owns the identifiers under the prefix
    (SSCCs, GRAIs, GIAIs, GLNs…), and only it may register GTINs under it (if it is a brand)."""

    __tablename__ = "company_prefixes"

    prefix: str = Field(primary_key=True, max_length=12, description="6 to 12 digits, leading zeros kept.")
    org_id: str = Field(foreign_key="organisations.id", max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ItemBatch(SQLModel, table=True):
    __tablename__ = "item_batches"

    root: str = Field(primary_key=True, max_length=66)
    gtin: str = Field(foreign_key="products.gtin", max_length=14, index=True)
    manufacturer_id: str = Field(foreign_key="organisations.id", max_length=64)
    count: int
    lot: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Item(SQLModel, table=True):
    """A serialized item. The serial and its salt stay here; the chain only sees the commitment."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("gtin", "serial", name="uq_items_gtin_serial"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    gtin: str = Field(foreign_key="products.gtin", max_length=14)
    serial: str = Field(max_length=20)
    salt: str = Field(max_length=66)
    commitment: str = Field(max_length=66)
    batch_root: str = Field(foreign_key="item_batches.root", max_length=66, index=True)
    proof: str = Field(sa_column=Column(Text, nullable=False), description="JSON list of sibling hashes.")
    lot: str | None = Field(default=None, max_length=20)
    status: str = Field(default="registered", max_length=24)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Partnership(SQLModel, table=True):
    """Roles an owner granted a partner organisation for what it owns. ``brand_id`` is the owner:
    a brand (its products), or any organisation owning identifiers (its SSCCs, GRAIs…)."""

    __tablename__ = "partnerships"

    brand_id: str = Field(primary_key=True, foreign_key="organisations.id", max_length=64)
    partner_id: str = Field(primary_key=True, foreign_key="organisations.id", max_length=64)
    roles: int
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class RecallRecord(SQLModel, table=True):
    """A recall as the brand issued it; its scope root goes on chain."""

    __tablename__ = "recalls"
    __table_args__ = (UniqueConstraint("gtin", "scope_root", name="uq_recalls_gtin_scope"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    scope_root: str = Field(max_length=66, description="Zero root: the whole GTIN.")
    gtin: str = Field(foreign_key="products.gtin", max_length=14, index=True)
    brand_id: str = Field(foreign_key="organisations.id", max_length=64)
    reason: str = Field(max_length=500)
    count: int = 0
    lot: str | None = Field(default=None, max_length=20)
    whole_gtin: bool = Field(default=False, description="Every item of the GTIN, present and future.")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class RecalledItem(SQLModel, table=True):
    """Membership of an item in a recall scope, with its inclusion proof."""

    __tablename__ = "recalled_items"

    recall_id: int = Field(primary_key=True, sa_type=BigIntId, foreign_key="recalls.id")
    item_id: int = Field(primary_key=True, sa_type=BigIntId, foreign_key="items.id", index=True)
    proof: str = Field(sa_column=Column(Text, nullable=False))
    position: int = Field(default=0, description="Index of the item's leaf in the scope's Merkle tree.")


class AnswerVersion(SQLModel, table=True):
    """A counter that moves forward in the same transaction as any change to what a verification
    answer shows (events, their anchors, items, batches, products, organisations, recalls, and
    their mirrored rows): database triggers move it, whoever writes (API, indexer, CLI, reconcile).
    Answers cached under one version stay true until it moves (backend/provenance/answers.py)."""

    __tablename__ = "answer_versions"

    name: str = Field(primary_key=True, max_length=32)
    version: int = Field(default=0, sa_type=BigInteger)
