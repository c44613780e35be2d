"""operations by account and status: a member's in-flight operations in one index range

The balance and history reads sum what a member has in flight (``account = ? AND status IN
('pending', 'sent')``). With an index on the account alone, every operation the member ever had
was read; SQLite's planner sometimes preferred the status index, which reads every operation
in flight for everyone. One index on (account, status) replaces the account index.

Revision ID: 3f6d2a9c8e51
Revises: 3f6d2a9c8e71
Create Date: 2026-11-30 10:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "3f6d2a9c8e51"
down_revision: str | None = "3f6d2a9c8e71"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.create_index("ix_operations_account_status", ["account", "status"], unique=False)
        batch_op.drop_index(batch_op.f("ix_operations_account"))


def downgrade() -> None:
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_operations_account"), ["account"], unique=False)
        batch_op.drop_index("ix_operations_account_status")
