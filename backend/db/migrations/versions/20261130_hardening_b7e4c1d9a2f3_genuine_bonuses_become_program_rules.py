"""genuine bonuses become program rules: products lose genuine_bonus_points

A brand used to set ``genuine_bonus_points`` on its products (up to a million points per item),
paid by the loyalty program without the program's approval. Bonuses are now rules of the
published rule set (``genuine_bonuses``), so the column goes. Bonuses brands had set are not
carried over on purpose: an admin who wants to pay them publishes them as bonus rules.

Revision ID: b7e4c1d9a2f3
Revises: 7c3e91b4d2a6
Create Date: 2026-11-30 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7e4c1d9a2f3"
down_revision: str | None = "7c3e91b4d2a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("genuine_bonus_points")


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("genuine_bonus_points", sa.Integer(), nullable=False, server_default="0"))
