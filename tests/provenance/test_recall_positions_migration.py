"""The ownership revision keeps what was there: recall scopes written before it get their leaves'
tree order (items sorted by GTIN and serial, as they were built), and company prefixes keep their
holder under the renamed column."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, text

from backend.db.migrate import alembic_config

BEFORE = "5a1c0f3e2b7d"


def test_existing_scopes_get_their_tree_order(engine: Engine) -> None:
    config = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    command.downgrade(config, BEFORE)
    now = 1_767_225_600_000_000  # created_at columns hold microseconds since the epoch
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO organisations (id, name, chain_id, roles, controller, active, created_at) "
                "VALUES ('b', 'B', '0x01', 1, '0x02', true, :now)"
            ),
            {"now": now},
        )
        db.execute(
            text("INSERT INTO company_prefixes (prefix, brand_id, created_at) VALUES ('9506000', 'b', :now)"),
            {"now": now},
        )
        db.execute(
            text(
                "INSERT INTO products (gtin, brand_id, name, description, genuine_bonus_points, created_at) "
                "VALUES ('09506000134352', 'b', 'P', '', 0, :now)"
            ),
            {"now": now},
        )
        db.execute(
            text(
                "INSERT INTO item_batches (root, gtin, manufacturer_id, count, created_at) "
                "VALUES ('0xr', '09506000134352', 'b', 3, :now)"
            ),
            {"now": now},
        )
        for item_id, serial in ((1, "S3"), (2, "S1"), (3, "S2")):
            db.execute(
                text(
                    "INSERT INTO items (id, gtin, serial, salt, commitment, batch_root, proof, status, "
                    "created_at) VALUES (:id, '09506000134352', :serial, '0x', '0x', '0xr', '[]', "
                    "'registered', :now)"
                ),
                {"id": item_id, "serial": serial, "now": now},
            )
        db.execute(
            text(
                "INSERT INTO recalls (id, scope_root, gtin, brand_id, reason, count, whole_gtin, created_at) "
                "VALUES (7, '0xs', '09506000134352', 'b', 'r', 3, false, :now)"
            ),
            {"now": now},
        )
        for item_id in (1, 2, 3):
            db.execute(
                text("INSERT INTO recalled_items (recall_id, item_id, proof) VALUES (7, :id, '[]')"), {"id": item_id}
            )
    command.upgrade(config, "head")
    with engine.connect() as db:
        positions = db.execute(text("SELECT item_id, position FROM recalled_items ORDER BY position")).all()
        holder = db.execute(text("SELECT org_id FROM company_prefixes WHERE prefix = '9506000'")).scalar_one()
    assert [tuple(row) for row in positions] == [(2, 0), (3, 1), (1, 2)]  # S1, S2, S3
    assert holder == "b"
