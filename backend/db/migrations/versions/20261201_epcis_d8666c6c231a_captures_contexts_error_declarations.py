"""epcis: capture jobs (with the document header), each event's own context, error declarations

Issue 16. ``epcis_captures`` records each captured document (the REST binding's capture job) with
its ``epcisHeader`` (the standard business document header was dropped before). Each event keeps
the JSON-LD context it was captured with beyond the standard one (prefixes and typed term
definitions), so that an export gives it back its meaning, and its ``errorDeclaration`` once it is
declared erroneous. Only columns are added to ``epcis_events`` (no foreign key): SQLite alters it
in place, and its answer-version triggers stay.

Revision ID: d8666c6c231a
Revises: 2f7345b4b38e
Create Date: 2026-11-30 13:55:44.161068
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.db.types

revision: str = "d8666c6c231a"
down_revision: str | None = "2f7345b4b38e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "epcis_captures",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("org_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("header", sa.Text(), nullable=True),
        sa.Column("problems", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("epcis_captures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_epcis_captures_org_id"), ["org_id"], unique=False)

    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capture_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.add_column(sa.Column("context", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("error_declaration", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_epcis_events_capture_id"), ["capture_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epcis_events_capture_id"))
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch would rebuild the table and drop its triggers.
    for column in ("error_declaration", "context", "capture_id"):
        op.execute(f"ALTER TABLE epcis_events DROP COLUMN {column}")

    with op.batch_alter_table("epcis_captures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epcis_captures_org_id"))
    op.drop_table("epcis_captures")
