"""console sessions: a person signed in to the program console with an API key

The cookie's token is stored as a digest, bound to the API key that opened it (ended when the key
is revoked), with an expiry and the time it was ended (sign-out).

Revision ID: 2f7345b4b38e
Revises: c5d1e8a2f4b7
Create Date: 2026-11-30 13:52:06.542379
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.db.types

revision: str = "2f7345b4b38e"
down_revision: str | None = "c5d1e8a2f4b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("ended_at", backend.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.key_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sessions_key_id"), ["key_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sessions_key_id"))

    op.drop_table("console_sessions")
