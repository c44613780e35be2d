"""indexer cursor head, counters and event topics

Revision ID: 5a1c0f3e2b7d
Revises: 500abb9b2fb9
Create Date: 2026-11-22 14:24:43.745626
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.db.types

revision: str = "5a1c0f3e2b7d"
down_revision: str | None = "500abb9b2fb9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chain_cursor", schema=None) as batch_op:
        batch_op.add_column(sa.Column("head_block", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("confirmations", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("events_total", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("reorgs_total", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("checked_at", backend.db.types.UTCDateTime(), nullable=False, server_default="0"))

    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("topic1", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True))
        batch_op.add_column(sa.Column("topic2", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True))
        batch_op.create_index("ix_chain_events_topic1", ["topic1", "block_number"], unique=False)
        batch_op.create_index("ix_chain_events_topic2", ["topic2", "block_number"], unique=False)

    # Events stored before this revision have no topics: empty the mirror (it is derived from
    # the chain) and let the indexer rebuild it from the deployment block. Outbox operations stay
    # confirmed; confirming them again changes nothing.
    tables = sa.inspect(op.get_bind()).get_table_names()
    derived = [*sorted(t for t in tables if t.startswith("mirror_")), "chain_events", "indexed_blocks", "chain_cursor"]
    for name in derived:
        op.execute(sa.table(name).delete())


def downgrade() -> None:
    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.drop_index("ix_chain_events_topic2")
        batch_op.drop_index("ix_chain_events_topic1")
        batch_op.drop_column("topic2")
        batch_op.drop_column("topic1")

    with op.batch_alter_table("chain_cursor", schema=None) as batch_op:
        batch_op.drop_column("checked_at")
        batch_op.drop_column("reorgs_total")
        batch_op.drop_column("events_total")
        batch_op.drop_column("confirmations")
        batch_op.drop_column("head_block")
