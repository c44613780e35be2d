"""epcis: the standard query language's facets, record-time order, named queries

Issue 16. ``epcis_event_facets`` holds the fields of each event that the binding's query
parameters filter on and that have no column (backend/provenance/epcis/facets.py), filled here
for the events already stored; ``ix_epcis_events_recorded`` orders by recordTime;
``epcis_named_queries`` keeps the named queries of each organisation. Only an index is added to
``epcis_events`` (a plain CREATE INDEX: SQLite keeps the table and its answer-version triggers).
``epcis_event_epcs.role`` widens to 12 characters: ``out_class`` (an outputQuantityList) did not
fit in 8, and PostgreSQL refused every capture of such a TransformationEvent.

Revision ID: 84b04d3de0c9
Revises: 5d2c81a7e3f0
Create Date: 2026-11-30 17:05:39.307040
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import backend.db.types
from backend.provenance.epcis.facets import event_facets, facet_rows

revision: str = "84b04d3de0c9"
down_revision: str | None = "5d2c81a7e3f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "epcis_named_queries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("org_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("created_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "name", name="uq_epcis_named_queries_org_name"),
    )
    op.create_table(
        "epcis_event_facets",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("event_pk", BIG_ID, nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("number", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["event_pk"], ["epcis_events.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_epcis_event_facets_event_pk", "epcis_event_facets", ["event_pk"])
    op.create_index("ix_epcis_event_facets_number", "epcis_event_facets", ["name", "number", "event_pk"])
    op.create_index("ix_epcis_event_facets_value", "epcis_event_facets", ["name", "value", "event_pk"])
    op.create_index("ix_epcis_events_recorded", "epcis_events", ["recorded_at", "id"])
    # epcis_event_epcs has no trigger: SQLite may rebuild it.
    with op.batch_alter_table("epcis_event_epcs", schema=None) as batch_op:
        batch_op.alter_column("role", type_=sqlmodel.sql.sqltypes.AutoString(length=12), existing_nullable=False)
    _facets_of_existing_events()


def _facets_of_existing_events() -> None:
    connection = op.get_bind()
    facets = sa.table(
        "epcis_event_facets",
        sa.column("event_pk"),
        sa.column("name"),
        sa.column("value"),
        sa.column("number"),
    )
    after = 0
    while True:
        chunk = connection.execute(
            sa.text(
                "SELECT id, body, namespaces, error_declaration FROM epcis_events WHERE id > :after ORDER BY id LIMIT 1000"
            ),
            {"after": after},
        ).all()
        if not chunk:
            return
        rows = []
        for pk, body, namespaces, declaration in chunk:
            found = event_facets(
                json.loads(body), json.loads(namespaces), json.loads(declaration) if declaration else None
            )
            rows += facet_rows(pk, found)
        if rows:
            connection.execute(facets.insert(), rows)
        after = chunk[-1][0]


def downgrade() -> None:
    # epcis_event_epcs.role stays 12 wide: rows of role out_class would not fit in 8.
    op.drop_index("ix_epcis_events_recorded", table_name="epcis_events")
    op.drop_index("ix_epcis_event_facets_value", table_name="epcis_event_facets")
    op.drop_index("ix_epcis_event_facets_number", table_name="epcis_event_facets")
    op.drop_index("ix_epcis_event_facets_event_pk", table_name="epcis_event_facets")
    op.drop_table("epcis_event_facets")
    op.drop_table("epcis_named_queries")
