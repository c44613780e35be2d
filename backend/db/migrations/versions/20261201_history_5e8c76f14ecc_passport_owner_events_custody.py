"""passports: owner changes derived from the chain (``passport_owner_events``) and the custody
flag of each change of holder (``mirror_passport_holders.custodial``)

Issue 18. The indexer records each passport ``Transfer`` as an EPCIS owner change, keyed by the
log's place in ``passport_owner_events``. ``custodial`` is filled for the rows already mirrored
as the handler would write them: a mint to a member's custodial address, or a relay whose
``PassportRelayed`` said so. Owner-change events captured before (when a request queued the claim
or the relay) stay in the history as they are: the changes already mirrored are not derived
again. Plain ``ADD COLUMN``/``DROP COLUMN``: SQLite keeps the table and its answer-version triggers.

Revision ID: 5e8c76f14ecc
Revises: 84b04d3de0c9
Create Date: 2026-12-01 20:00:00.000000
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "5e8c76f14ecc"
down_revision: str | None = "84b04d3de0c9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ZERO_ADDRESS = "0x" + "00" * 20
HOLDERS = sa.table(
    "mirror_passport_holders",
    sa.column("previous", sa.String()),
    sa.column("holder", sa.String()),
    sa.column("tx_hash", sa.String()),
    sa.column("token_id", sa.String()),
    sa.column("custodial", sa.Boolean()),
)
CUSTOMERS = sa.table("customers", sa.column("address", sa.String()))
EVENTS = sa.table(
    "chain_events",
    sa.column("contract", sa.String()),
    sa.column("name", sa.String()),
    sa.column("tx_hash", sa.String()),
    sa.column("args", sa.Text()),
)


def upgrade() -> None:
    op.add_column("mirror_passport_holders", sa.Column("custodial", sa.Boolean(), server_default="0", nullable=False))
    op.create_table(
        "passport_owner_events",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("event_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("refused", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_pk"],
            ["epcis_events.id"],
        ),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
    )
    _fill_custody()


def _fill_custody() -> None:
    minted_in_custody = sa.and_(
        HOLDERS.c.previous == ZERO_ADDRESS, HOLDERS.c.holder.in_(sa.select(CUSTOMERS.c.address))
    )
    op.execute(HOLDERS.update().where(minted_in_custody).values(custodial=True))
    bind = op.get_bind()
    relays = bind.execute(
        sa.select(EVENTS.c.tx_hash, EVENTS.c.args).where(
            EVENTS.c.contract == "ItemPassports", EVENTS.c.name == "PassportRelayed"
        )
    ).all()
    for tx_hash, args in relays:
        relay = json.loads(args)
        if relay.get("custodial"):
            token_id = f"0x{int(relay['tokenId']):064x}"
            bind.execute(
                HOLDERS.update()
                .where(HOLDERS.c.tx_hash == tx_hash, HOLDERS.c.token_id == token_id)
                .values(custodial=True)
            )


def downgrade() -> None:
    op.drop_table("passport_owner_events")
    op.drop_column("mirror_passport_holders", "custodial")
