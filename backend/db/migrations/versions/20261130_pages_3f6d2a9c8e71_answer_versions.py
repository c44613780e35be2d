"""answer versions: a counter of what verification answers show, moved by triggers (issue 13)

Public verification answers are cached under this counter (backend/provenance/answers.py): every
insert, update or delete of a table an answer reads moves it, in the same transaction, whoever
writes (the API, the indexer, the CLI, a reconcile repair). SQLite runs one trigger per row and
operation; PostgreSQL one per statement (a COPY of 100,000 items moves it once). Scans are not
watched: an answer reads them afresh (they change with every resolution).

Revision ID: 3f6d2a9c8e71
Revises: e4a9c2b7d1f0
Create Date: 2026-11-30 10:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "3f6d2a9c8e71"
down_revision: str | None = "e4a9c2b7d1f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table a verification answer reads (backend/provenance/verification.py), scans excepted, and
# the two indexes derived from events: epcis_event_epcs and epcis_links are written only by a capture,
# in the transaction that inserts the events they derive from (which moves the version). On SQLite
# a trigger runs once per row: watching them cost a quarter of a capture's CPU.
WATCHED = (
    "organisations",
    "products",
    "item_batches",
    "items",
    "epcis_events",
    "recalls",
    "recalled_items",
    "mirror_item_batches",
    "mirror_event_anchors",
    "mirror_recalls",
)
OPERATIONS = ("insert", "update", "delete")
BUMP = "UPDATE answer_versions SET version = version + 1 WHERE name = 'verification'"


def upgrade() -> None:
    op.create_table(
        "answer_versions",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.execute("INSERT INTO answer_versions (name, version) VALUES ('verification', 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION bump_answer_version() RETURNS trigger AS $$ BEGIN {BUMP}; RETURN NULL; END $$ "
            "LANGUAGE plpgsql"
        )
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


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS answers_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_answer_version()")
    else:
        for table in WATCHED:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS answers_{table}_{operation}")
    op.drop_table("answer_versions")
