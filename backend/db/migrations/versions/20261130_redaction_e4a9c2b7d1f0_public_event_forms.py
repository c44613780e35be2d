"""public event forms: events keep a public body, its hash and a salt; what is anchored binds both

The public verification answer published each event as captured, so whoever scanned one item read
the serials of its case-mates and batch-mates. Events now keep their public body (every serialized
item replaced by its token), the SHA-256 of its pre-hash string, and a secret salt; the anchored
value is keccak256(keccak256(salt ‖ CBV digest) ‖ public hash) (backend/provenance/epcis/public_form.py).

Existing events get their public columns here, and their anchors are cleared: they were anchored
under the old leaf (the bare CBV digest), which the verifiers no longer accept, so the anchorer
seals them again under the new one within its delay. The old batches stay on chain, unused. An
event written before capture refused unregistered serialized items may name one without a token:
it gets a random token (it reveals nothing, and no item can claim it).

This revision computes the public forms with the application's own functions: the public form is a
published formula (docs/verification.md), so those functions may not change what they compute.

Revision ID: e4a9c2b7d1f0
Revises: b7e4c1d9a2f3
Create Date: 2026-11-30 12:00:00.000000
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from backend.provenance.epcis.public_form import (
    Mention,
    item_token,
    public_body,
    public_digest,
    public_form,
    serialized_mentions,
)

revision: str = "e4a9c2b7d1f0"
down_revision: str | None = "b7e4c1d9a2f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 500
COLUMNS = ("public_body", "public_hash", "event_salt")
EVENTS = sa.table(
    "epcis_events",
    sa.column("id"),
    sa.column("body"),
    sa.column("namespaces"),
    sa.column("public_body"),
    sa.column("public_hash"),
    sa.column("event_salt"),
    sa.column("anchor_root"),
    sa.column("anchor_proof"),
)
ITEMS = sa.table("items", sa.column("gtin"), sa.column("serial"), sa.column("commitment"))


def upgrade() -> None:
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("public_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True))
        batch_op.add_column(sa.Column("event_salt", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True))
    _public_columns_of_existing_events()
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.alter_column("public_body", existing_type=sa.Text(), nullable=False)
        for name in COLUMNS[1:]:
            batch_op.alter_column(name, existing_type=sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False)


def _random_token(_: Mention) -> str:
    return "item:0x" + secrets.token_hex(32)


def _public_columns_of_existing_events() -> None:
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(EVENTS.c.id, EVENTS.c.body, EVENTS.c.namespaces)
            .where(EVENTS.c.id > last)
            .order_by(EVENTS.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        events = [(row.id, json.loads(row.body), json.loads(row.namespaces)) for row in rows]
        wanted = {
            m.item.key: (m.item.gtin, m.item.serial)
            for _, body, namespaces in events
            for m in serialized_mentions(body, namespaces)
            if m.item is not None
        }
        found = (
            connection.execute(
                sa.select(ITEMS.c.gtin, ITEMS.c.serial, ITEMS.c.commitment).where(
                    sa.tuple_(ITEMS.c.gtin, ITEMS.c.serial).in_(sorted(set(wanted.values())))
                )
            ).all()
            if wanted
            else []
        )
        commitments = {(gtin, serial): commitment for gtin, serial, commitment in found}
        tokens = {
            key: item_token(pair[0], bytes.fromhex(commitments[pair][2:]))
            for key, pair in wanted.items()
            if pair in commitments
        }
        updates = []
        for event_pk, body, namespaces in events:
            public = public_body(body, namespaces, tokens, fallback=_random_token)
            updates.append(
                {
                    "pk": event_pk,
                    "new_body": json.dumps(public, separators=(",", ":")),
                    "new_hash": "0x" + public_digest(public_form(public, namespaces)).hex(),
                    "new_salt": "0x" + secrets.token_hex(32),
                }
            )
        connection.execute(
            EVENTS.update()
            .where(EVENTS.c.id == sa.bindparam("pk"))
            .values(
                public_body=sa.bindparam("new_body"),
                public_hash=sa.bindparam("new_hash"),
                event_salt=sa.bindparam("new_salt"),
                anchor_root=None,
                anchor_proof=None,
            ),
            updates,
        )


def downgrade() -> None:
    # The old verifiers expect the old leaf: every event is sealed again under it.
    op.execute(EVENTS.update().values(anchor_root=None, anchor_proof=None))
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.drop_column(name)
