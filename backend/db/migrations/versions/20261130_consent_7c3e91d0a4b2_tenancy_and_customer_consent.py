"""tenancy and customer consent: retailers own stores, program keys, customer tokens, till codes,
Sign-In with Ethereum nonces, EIP-712 wallet claims

Revision ID: 7c3e91d0a4b2
Revises: b7f038e73c54
Create Date: 2026-11-30 07:30:35.292866
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.db.types

revision: str = "7c3e91d0a4b2"
down_revision: str | None = "b7f038e73c54"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Stores that exist before this revision belong to one retailer created for them.
DEFAULT_RETAILER = "default"


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "retailers",
        sa.Column("id", _string(64), nullable=False),
        sa.Column("name", _string(200), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "siwe_nonces",
        sa.Column("nonce", _string(64), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("used_at", backend.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index("ix_siwe_nonces_expires_at", "siwe_nonces", ["expires_at"], unique=False)
    op.create_table(
        "customer_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("token_id", _string(32), nullable=False),
        sa.Column("token_hash", _string(64), nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("scopes", _string(200), nullable=False),
        sa.Column("issued_by", _string(80), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", backend.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_id"),
    )
    op.create_index("ix_customer_tokens_customer", "customer_tokens", ["customer_id", "expires_at"], unique=False)
    op.create_table(
        "till_codes",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("token_id", _string(32), nullable=False),
        sa.Column("salt", _string(32), nullable=False),
        sa.Column("code_hash", _string(64), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", backend.db.types.UTCDateTime(), nullable=True),
        sa.Column("used_for", _string(300), nullable=True),
        sa.Column("used_by", _string(32), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_till_codes_customer", "till_codes", ["customer_id", "created_at"], unique=False)
    op.create_table(
        "wallet_claims",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("wallet", _string(42), nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("digest", _string(66), nullable=False),
        sa.Column("operation_id", ID, nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["operation_id"], ["operations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "nonce", name="uq_wallet_claims_customer_nonce"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retailer_id", _string(64), nullable=True))
        batch_op.create_foreign_key("fk_api_keys_retailer_id", "retailers", ["retailer_id"], ["id"])

    # Every store belongs to a retailer: the stores already there get one of their own.
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retailer_id", _string(64), nullable=True))
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM stores LIMIT 1")).first() is not None:
        bind.execute(
            sa.text("INSERT INTO retailers (id, name, created_at) VALUES (:id, :name, :at)"),
            {"id": DEFAULT_RETAILER, "name": "Default retailer", "at": int(time.time() * 1_000_000)},
        )
        bind.execute(sa.text("UPDATE stores SET retailer_id = :id"), {"id": DEFAULT_RETAILER})
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.alter_column("retailer_id", existing_type=_string(64), nullable=False)
        batch_op.create_index("ix_stores_retailer_id", ["retailer_id"], unique=False)
        batch_op.create_foreign_key("fk_stores_retailer_id", "retailers", ["retailer_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_constraint("fk_stores_retailer_id", type_="foreignkey")
        batch_op.drop_index("ix_stores_retailer_id")
        batch_op.drop_column("retailer_id")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint("fk_api_keys_retailer_id", type_="foreignkey")
        batch_op.drop_column("retailer_id")
    op.drop_table("wallet_claims")
    op.drop_index("ix_till_codes_customer", table_name="till_codes")
    op.drop_table("till_codes")
    op.drop_index("ix_customer_tokens_customer", table_name="customer_tokens")
    op.drop_table("customer_tokens")
    op.drop_index("ix_siwe_nonces_expires_at", table_name="siwe_nonces")
    op.drop_table("siwe_nonces")
    op.drop_table("retailers")
