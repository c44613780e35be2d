"""provenance ownership: company prefixes belong to any organisation; recall scopes keep their leaf order

Revision ID: 7c3e91b4d2a6
Revises: 7c3e91d0a4b2
Create Date: 2026-11-30 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c3e91b4d2a6"
down_revision: str | None = "7c3e91d0a4b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A prefix may now be held by any organisation (a logistics company owns its SSCCs): the
    # column names the holder, not a brand.
    with op.batch_alter_table("company_prefixes", schema=None) as batch_op:
        batch_op.drop_index("ix_company_prefixes_brand_id")
        batch_op.alter_column(
            "brand_id", new_column_name="org_id", existing_type=sa.String(length=64), existing_nullable=False
        )
    with op.batch_alter_table("company_prefixes", schema=None) as batch_op:  # after the rename (batch mode)
        batch_op.create_index("ix_company_prefixes_org_id", ["org_id"], unique=False)
    with op.batch_alter_table("mirror_company_prefixes", schema=None) as batch_op:
        batch_op.alter_column(
            "brand_id", new_column_name="org_id", existing_type=sa.String(length=66), existing_nullable=False
        )
    # The public scope endpoint lists a recall's leaves in tree order: keep each item's position.
    with op.batch_alter_table("recalled_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=False, server_default="0"))
    _number_existing_scopes()
    with op.batch_alter_table("recalled_items", schema=None) as batch_op:
        batch_op.alter_column("position", server_default=None, existing_type=sa.Integer(), existing_nullable=False)


def _number_existing_scopes() -> None:
    """Scopes written before this revision were built from their items sorted by GTIN and serial."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT r.recall_id, r.item_id FROM recalled_items r JOIN items i ON i.id = r.item_id "
            "ORDER BY r.recall_id, i.gtin, i.serial"
        )
    ).all()
    positions: dict[int, int] = {}
    for recall_id, item_id in rows:
        position = positions.get(recall_id, 0)
        positions[recall_id] = position + 1
        connection.execute(
            sa.text("UPDATE recalled_items SET position = :position WHERE recall_id = :recall AND item_id = :item"),
            {"position": position, "recall": recall_id, "item": item_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("recalled_items", schema=None) as batch_op:
        batch_op.drop_column("position")
    with op.batch_alter_table("mirror_company_prefixes", schema=None) as batch_op:
        batch_op.alter_column(
            "org_id", new_column_name="brand_id", existing_type=sa.String(length=66), existing_nullable=False
        )
    with op.batch_alter_table("company_prefixes", schema=None) as batch_op:
        batch_op.drop_index("ix_company_prefixes_org_id")
        batch_op.alter_column(
            "org_id", new_column_name="brand_id", existing_type=sa.String(length=64), existing_nullable=False
        )
    with op.batch_alter_table("company_prefixes", schema=None) as batch_op:
        batch_op.create_index("ix_company_prefixes_brand_id", ["brand_id"], unique=False)
