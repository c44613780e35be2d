"""scan clients: who stands behind each consumer scan (finding 7)

Each scan records a keyed hash of the client's network and who vouches for it (anonymous, the
item's brand, a partner the brand authorised, another organisation), so one client repeating
itself no longer counts as many. Scans recorded before this revision have no client: they count
together as one unknown client.

Revision ID: b7f038e73c54
Revises: 5a1c0f3e2b7d
Create Date: 2026-11-30 07:21:24.308993
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "b7f038e73c54"
down_revision: str | None = "5a1c0f3e2b7d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORG_FOREIGN_KEY = "fk_scans_org_id_organisations"


def upgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=12), server_default="anonymous", nullable=False)
        )
        batch_op.add_column(sa.Column("org_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_foreign_key(ORG_FOREIGN_KEY, "organisations", ["org_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_constraint(ORG_FOREIGN_KEY, type_="foreignkey")
        batch_op.drop_column("org_id")
        batch_op.drop_column("source")
        batch_op.drop_column("client")
