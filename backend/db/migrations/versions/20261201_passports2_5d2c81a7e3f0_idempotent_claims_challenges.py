"""passports: claims and transfers as idempotent commands, wallet-signature challenges, and
the passport mirror watched by the verification answers' version (their answer shows the owners)

Revision ID: 5d2c81a7e3f0
Revises: 9f7e7b657631
Create Date: 2026-12-01 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.db.types

revision: str = "5d2c81a7e3f0"
down_revision: str | None = "9f7e7b657631"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows recorded before claims and transfers had ids: the token id (a claim) or the row id (a
# transfer) becomes their id, with an empty digest: sent again, such an id is a 409, never a replay.
COMMAND_COLUMNS = (
    ("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64)),
    ("response", sa.Text()),
)


# Tables the verification answer now reads (its passport: owned since, owners): watched like the
# others of 20261130_pages_3f6d2a9c8e71 (its bump_answer_version() function on PostgreSQL).
WATCHED = ("mirror_passports", "mirror_passport_holders")
OPERATIONS = ("insert", "update", "delete")
BUMP = "UPDATE answer_versions SET version = version + 1 WHERE name = 'verification'"


def _watch() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER answers_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_answer_version()"
            )
        return
    for table in WATCHED:
        for operation in OPERATIONS:
            op.execute(
                f"CREATE TRIGGER answers_{table}_{operation} AFTER {operation.upper()} ON {table} BEGIN {BUMP}; END"
            )


def _unwatch() -> None:
    for table in WATCHED:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS answers_{table} ON {table}")
        else:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS answers_{table}_{operation}")


def upgrade() -> None:
    _watch()
    for table, id_column in (("passport_claims", "claim_id"), ("passport_transfers", "transfer_id")):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(id_column, sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
            for name, kind in COMMAND_COLUMNS:
                batch_op.add_column(sa.Column(name, kind, nullable=True))
    op.execute("UPDATE passport_claims SET claim_id = token_id, request_hash = '', response = '{}'")
    op.execute(
        "UPDATE passport_transfers SET transfer_id = CAST(id AS VARCHAR(128)), request_hash = '', response = '{}'"
    )
    with op.batch_alter_table("passport_claims", schema=None) as batch_op:
        batch_op.alter_column("claim_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False)
        for name, kind in COMMAND_COLUMNS:
            batch_op.alter_column(name, existing_type=kind, nullable=False)
        batch_op.create_unique_constraint("uq_passport_claims_customer_claim", ["customer_id", "claim_id"])
    with op.batch_alter_table("passport_transfers", schema=None) as batch_op:
        batch_op.alter_column("transfer_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False)
        for name, kind in COMMAND_COLUMNS:
            batch_op.alter_column(name, existing_type=kind, nullable=False)
        batch_op.create_unique_constraint("uq_passport_transfers_sender_transfer", ["from_customer_id", "transfer_id"])
    op.create_table(
        "passport_challenges",
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("expires_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("used_at", backend.db.types.UTCDateTime(), nullable=True),
        sa.Column("signer", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=True),
        sa.Column("proved", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("passport_challenges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_passport_challenges_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index("ix_passport_challenges_token_used", ["token_id", "used_at"], unique=False)


def downgrade() -> None:
    _unwatch()
    with op.batch_alter_table("passport_challenges", schema=None) as batch_op:
        batch_op.drop_index("ix_passport_challenges_token_used")
        batch_op.drop_index(batch_op.f("ix_passport_challenges_expires_at"))
    op.drop_table("passport_challenges")
    for table, id_column, constraint in (
        ("passport_transfers", "transfer_id", "uq_passport_transfers_sender_transfer"),
        ("passport_claims", "claim_id", "uq_passport_claims_customer_claim"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(constraint, type_="unique")
            for name in ("response", "request_hash", id_column):
                batch_op.drop_column(name)
