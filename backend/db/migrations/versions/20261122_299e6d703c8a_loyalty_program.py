"""loyalty program: lots, tiers, refunds, rewards, transfers, partners

Revision ID: 299e6d703c8a
Revises: dc99c04ee6c7
Create Date: 2026-11-22 14:18:58.261894
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.db.types

revision: str = "299e6d703c8a"
down_revision: str | None = "dc99c04ee6c7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("rate", backend.db.types.DecimalText(length=40), nullable=False),
        sa.Column("max_points_per_conversion", sa.BigInteger(), nullable=False),
        sa.Column("daily_cap_per_customer", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "rewards",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("points_price", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "customer_segments",
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("segment", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("customer_id", "segment"),
    )
    op.create_table(
        "member_states",
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tier", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("tier_since", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("grace_until", backend.db.types.UTCDateTime(), nullable=True),
        sa.Column("debt", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "partner_conversions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("conversion_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("partner_points", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["operations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "conversion_id", name="uq_partner_conversions_partner_conversion"),
    )
    with op.batch_alter_table("partner_conversions", schema=None) as batch_op:
        batch_op.create_index("ix_partner_conversions_customer_day", ["partner_id", "customer_id", "day"], unique=False)

    op.create_table(
        "point_transfers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("to_customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("transfer_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("allocations", sa.Text(), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_customer_id"],
            ["customers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["operations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["to_customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("from_customer_id", "transfer_id", name="uq_point_transfers_sender_transfer"),
    )
    with op.batch_alter_table("point_transfers", schema=None) as batch_op:
        batch_op.create_index("ix_point_transfers_sender_day", ["from_customer_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_point_transfers_to_customer_id"), ["to_customer_id"], unique=False)

    op.create_table(
        "redemptions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("redemption_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("reward_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("operation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("allocations", sa.Text(), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["operations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"],
            ["rewards.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "redemption_id", name="uq_redemptions_customer_redemption"),
    )
    op.create_table(
        "tier_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("from_tier", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("to_tier", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("qualifying", sa.BigInteger(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("grace_until", backend.db.types.UTCDateTime(), nullable=True),
        sa.Column("at", backend.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tier_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tier_events_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "point_lots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("purchase_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("operation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("earned_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", backend.db.types.UTCDateTime(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("expired", sa.BigInteger(), nullable=False),
        sa.Column("qualifying", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"],
            ["purchases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("point_lots", schema=None) as batch_op:
        batch_op.create_index("ix_point_lots_customer_earned", ["customer_id", "earned_at"], unique=False)
        batch_op.create_index("ix_point_lots_expires_at", ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_point_lots_purchase_id"), ["purchase_id"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("purchase_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("refund_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("value", backend.db.types.DecimalText(length=40), nullable=False),
        sa.Column("share", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("points_reversed", sa.BigInteger(), nullable=False),
        sa.Column("operation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["operations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"],
            ["purchases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("purchase_id", "refund_id", name="uq_refunds_purchase_refund"),
    )
    op.create_table(
        "refund_lines",
        sa.Column("refund_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["refund_pk"],
            ["refunds.id"],
        ),
        sa.PrimaryKeyConstraint("refund_pk", "line_no"),
    )
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paid_with_points", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("redemption_operation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.add_column(sa.Column("explanation", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            "fk_purchases_redemption_operation_id", "operations", ["redemption_operation_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_constraint("fk_purchases_redemption_operation_id", type_="foreignkey")
        batch_op.drop_column("explanation")
        batch_op.drop_column("redemption_operation_id")
        batch_op.drop_column("paid_with_points")

    op.drop_table("refund_lines")
    op.drop_table("refunds")
    with op.batch_alter_table("point_lots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_point_lots_purchase_id"))
        batch_op.drop_index("ix_point_lots_expires_at")
        batch_op.drop_index("ix_point_lots_customer_earned")

    op.drop_table("point_lots")
    with op.batch_alter_table("tier_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tier_events_customer_id"))

    op.drop_table("tier_events")
    op.drop_table("redemptions")
    with op.batch_alter_table("point_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_point_transfers_to_customer_id"))
        batch_op.drop_index("ix_point_transfers_sender_day")

    op.drop_table("point_transfers")
    with op.batch_alter_table("partner_conversions", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_conversions_customer_day")

    op.drop_table("partner_conversions")
    op.drop_table("member_states")
    op.drop_table("customer_segments")
    op.drop_table("rewards")
    op.drop_table("partners")
