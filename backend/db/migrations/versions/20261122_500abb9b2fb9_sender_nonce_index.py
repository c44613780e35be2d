"""sender: one live transaction per (sender, nonce), index on status

Revision ID: 500abb9b2fb9
Revises: 299e6d703c8a
Create Date: 2026-11-22 14:14:12.891810
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "500abb9b2fb9"
down_revision: str | None = "299e6d703c8a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chain_transactions", schema=None) as batch_op:
        batch_op.create_index("ix_chain_transactions_status", ["status"], unique=False)
        batch_op.create_index(
            "uq_chain_transactions_live_nonce",
            ["sender", "nonce"],
            unique=True,
            sqlite_where=sa.text("status != 'dropped'"),
            postgresql_where=sa.text("status != 'dropped'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("chain_transactions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_chain_transactions_live_nonce",
            sqlite_where=sa.text("status != 'dropped'"),
            postgresql_where=sa.text("status != 'dropped'"),
        )
        batch_op.drop_index("ix_chain_transactions_status")
