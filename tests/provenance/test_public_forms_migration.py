"""The public-forms revision gives events written before it their public body, hash and salt, and
sends them to be anchored again under the new leaf; a serial no item was registered for (only old
events can name one) still never shows: it gets a random token."""

from __future__ import annotations

import hashlib
import json

from alembic import command
from sqlalchemy import Engine, text

from backend.db.migrate import alembic_config
from backend.provenance.epcis.public_form import TOKEN, item_token, public_form
from backend.provenance.merkle import item_commitment

BEFORE = "b7e4c1d9a2f3"
GTIN = "09506000134352"
NOW = 1_767_225_600_000_000  # created_at columns hold microseconds since the epoch


def test_existing_events_get_their_public_form_and_are_anchored_again(engine: Engine) -> None:
    config = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    command.downgrade(config, BEFORE)
    commitment = item_commitment(b"\x11" * 32, "OLD-1")
    item = {"gtin": GTIN, "salt": "0x" + "11" * 32, "commitment": "0x" + commitment.hex(), "now": NOW}
    body = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "eventTime": "2026-01-05T09:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "eventID": "urn:uuid:1",
        "epcList": [f"https://id.gs1.org/01/{GTIN}/21/OLD-1", "urn:epc:id:sscc:9506000.0000000052"],
        "ex:twin": "urn:epc:id:sgtin:9506000.013435.NEVER-REGISTERED",
    }
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO organisations (id, name, chain_id, roles, controller, active, created_at) "
                "VALUES ('b', 'B', '0x01', 1, '0x02', true, :now)"
            ),
            {"now": NOW},
        )
        db.execute(
            text(
                "INSERT INTO products (gtin, brand_id, name, description, created_at) "
                "VALUES (:gtin, 'b', 'P', '', :now)"
            ),
            {"gtin": GTIN, "now": NOW},
        )
        db.execute(
            text(
                "INSERT INTO item_batches (root, gtin, manufacturer_id, count, created_at) "
                "VALUES ('0xr', :gtin, 'b', 1, :now)"
            ),
            {"gtin": GTIN, "now": NOW},
        )
        db.execute(
            text(
                "INSERT INTO items (id, gtin, serial, salt, commitment, batch_root, proof, status, created_at) "
                "VALUES (1, :gtin, 'OLD-1', :salt, :commitment, '0xr', '[]', 'registered', :now)"
            ),
            item,
        )
        db.execute(
            text("INSERT INTO epcis_anchors (root, org_id, count, created_at) VALUES ('0xold', 'b', 2, :now)"),
            {"now": NOW},
        )
        for pk, event_id in ((1, "urn:uuid:1"), (2, "urn:uuid:2")):
            db.execute(
                text(
                    "INSERT INTO epcis_events (id, event_hash, event_id, event_type, event_time, org_id, body, "
                    "namespaces, recorded_at, anchor_root, anchor_proof) VALUES (:pk, :hash, :event_id, "
                    "'ObjectEvent', :now, 'b', :body, :ns, :now, '0xold', '[]')"
                ),
                {
                    "pk": pk,
                    "hash": f"ni:///sha-256;{pk:064x}?ver=CBV2.0",
                    "event_id": event_id,
                    "body": json.dumps({**body, "eventID": event_id}),
                    "now": NOW,
                    "ns": json.dumps({"ex": "https://example.com/voc/"}),
                },
            )
    command.upgrade(config, "head")
    with engine.connect() as db:
        rows = db.execute(
            text(
                "SELECT public_body, public_hash, event_salt, anchor_root, anchor_proof, namespaces "
                "FROM epcis_events ORDER BY id"
            )
        ).all()
    salts = set()
    for public_text, public_hash, salt, root, proof, namespaces in rows:
        public = json.loads(public_text)
        assert "OLD-1" not in public_text
        assert "NEVER-REGISTERED" not in public_text
        assert item_token(GTIN, commitment) in public["epcList"]
        assert TOKEN.fullmatch(public["ex:twin"])  # a random token: nothing to find it by
        assert "eventID" not in public
        assert public_hash == "0x" + hashlib.sha256(public_form(public, json.loads(namespaces)).encode()).hexdigest()
        assert (root, proof) == (None, None)  # the anchorer seals it again, under the new leaf
        salts.add(salt)
    assert len(salts) == 2
    assert all(len(s) == 66 for s in salts)
