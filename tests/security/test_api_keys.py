"""API keys at rest and in scope: digests only, 32 random bytes, each key acting only for its
store or organisation, and rotation (create the new key, revoke the old)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from sqlmodel import Session, select

from backend.api.auth import KEY_PREFIX, new_key
from backend.db.models import ApiKey
from tests.support import Platform

# The database does not matter here: SQLite only, to keep make test short.
pytestmark = [pytest.mark.chain, pytest.mark.sqlite_only]


def _purchase(order_id: str, store_id: str = "demo-store") -> dict[str, object]:
    return {
        "order_id": order_id,
        "customer_id": "kim",
        "store_id": store_id,
        "currency": "USD",
        "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": "4.00"}],
    }


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _create_key(platform: Platform, **body: str) -> dict[str, str]:
    response = platform.client.post("/v1/api-keys", json=body, headers=platform.headers("admin"))
    assert response.status_code == 201, response.text
    return response.json()


def test_keys_are_32_random_bytes() -> None:
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        assert len(base64.urlsafe_b64decode(key[len(KEY_PREFIX) :] + "=")) == 32


def test_only_the_digest_is_stored(platform: Platform) -> None:
    created = _create_key(platform, role="checkout", store_id="demo-store", label="till 7")
    key = created["key"]
    with Session(platform.engine) as session:
        record = session.exec(select(ApiKey).where(ApiKey.key_id == created["key_id"])).one()
    assert record.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {str(v) for v in record.model_dump().values()}
    # Nothing of the secret part reaches the database file (the public key_id is its first 8 chars).
    database = Path(platform.settings.resolved_database_url.removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert key[len(created["key_id"]) :].encode() not in raw
    assert key.encode() not in raw
    assert platform.client.get("/v1/customers/demo-customer/balance", headers=_bearer(key)).status_code == 200


def test_a_checkout_key_acts_only_for_its_store(platform: Platform) -> None:
    admin = platform.headers("admin")
    assert (
        platform.client.post(
            "/v1/stores",
            json={"id": "other-store", "name": "Other", "currency": "USD", "retailer_id": "demo-retailer"},
            headers=admin,
        ).status_code
        == 201
    )
    other = _bearer(_create_key(platform, role="checkout", store_id="other-store")["key"])
    demo = platform.headers("checkout")

    assert platform.client.post("/v1/purchases", json=_purchase("S-1"), headers=demo).status_code == 200
    refused = platform.client.post("/v1/purchases", json=_purchase("S-2"), headers=other)
    assert refused.status_code == 403
    assert refused.json()["error"]["field"] == "store_id"
    # Reading another store's order is refused too, and says nothing about whether it exists.
    for store in ("demo-store", "nowhere"):
        read = platform.client.get("/v1/purchases/S-1", params={"store_id": store}, headers=other)
        assert read.status_code == 403
    assert platform.client.post("/v1/purchases", json=_purchase("S-3", "other-store"), headers=other).status_code == 200
    # Admin-only routes stay closed to checkout keys.
    assert platform.client.get("/v1/stores", headers=other).status_code == 403
    assert platform.client.post("/v1/api-keys", json={"role": "admin"}, headers=other).status_code == 403


def test_an_organisation_key_cannot_write_for_another_brand(platform: Platform) -> None:
    admin = platform.headers("admin")
    created = platform.client.post(
        "/v1/organisations", json={"id": "rival", "name": "Rival", "roles": ["brand", "manufacturer"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    rival = _bearer(_create_key(platform, role="organisation", org_id="rival")["key"])
    platform.settle()
    demo_gtin = "09506000134352"

    items = platform.client.post("/v1/items", json={"gtin": demo_gtin, "serials": ["FAKE1"]}, headers=rival)
    assert items.status_code == 403, items.text
    recall = platform.client.post("/v1/recalls", json={"gtin": demo_gtin, "reason": "spite"}, headers=rival)
    assert recall.status_code == 403
    partners = platform.client.put(
        "/v1/organisations/demo-brand/partners", json={"partner_id": "rival", "roles": ["manufacturer"]}, headers=rival
    )
    assert partners.status_code == 403
    assert platform.client.post("/v1/purchases", json=_purchase("O-1"), headers=rival).status_code == 403
    # Nor record supply-chain events about the brand's items, whatever the event.
    before = platform.client.get("/v1/epcis/events", params={"gtin": demo_gtin}, headers=platform.headers("admin"))
    item = f"https://id.gs1.org/01/{demo_gtin}/21/SN0002"
    for step, extra in (
        ("commissioning", {"action": "ADD", "disposition": "active"}),
        ("shipping", {"action": "OBSERVE", "disposition": "in_transit"}),
        ("decommissioning", {"action": "DELETE", "disposition": "inactive"}),
    ):
        doc = {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00Z",
            "epcisBody": {
                "eventList": [
                    {
                        "type": "ObjectEvent",
                        "eventTime": "2026-01-02T00:00:00Z",
                        "eventTimeZoneOffset": "+00:00",
                        "bizStep": step,
                        "epcList": [item],
                        **extra,
                    }
                ]
            },
        }
        captured = platform.client.post("/v1/epcis/capture", json=doc, headers=rival)
        assert captured.status_code == 403, captured.text
        assert any(p["rule"] == "unauthorised_writer" for p in captured.json()["error"]["problems"])
    after = platform.client.get("/v1/epcis/events", params={"gtin": demo_gtin}, headers=platform.headers("admin"))
    assert after.json()["epcisBody"]["eventList"] == before.json()["epcisBody"]["eventList"]
    # And reading: an organisation sees only events about its own brand's (or its principals') items.
    assert before.json()["epcisBody"]["eventList"], "the demo has events about its items"
    rival_view = platform.client.get("/v1/epcis/events", params={"gtin": demo_gtin}, headers=rival)
    assert rival_view.status_code == 200
    assert rival_view.json()["epcisBody"]["eventList"] == []
    assert platform.client.get("/v1/customers/demo-customer/balance", headers=rival).status_code == 403


def test_customer_data_needs_a_loyalty_key(platform: Platform) -> None:
    """Organisation keys (brands) read no customer data; the public verification page shows none.
    (Which loyalty key reads what: tests/security/test_consent.py.)"""
    for path in ("/v1/customers/demo-customer/balance", "/v1/customers/demo-customer/history"):
        assert platform.client.get(path).status_code == 401
        assert platform.client.get(path, headers=platform.headers("brand")).status_code == 403
    page = platform.client.get("/01/09506000134352/21/SN0001", params={"format": "json"})
    assert page.status_code == 200
    assert "demo-customer" not in page.text


def test_rotation_new_key_works_old_key_stops(platform: Platform) -> None:
    old = platform.headers("checkout")
    new = _create_key(platform, role="checkout", store_id="demo-store", label="rotated")
    assert platform.client.post("/v1/purchases", json=_purchase("R-1"), headers=_bearer(new["key"])).status_code == 200
    old_id = platform.keys["checkout"][: len(new["key_id"])]
    assert platform.client.delete(f"/v1/api-keys/{old_id}", headers=platform.headers("admin")).status_code == 204
    platform.client.app.state.credance.verifier._cache.clear()  # type: ignore[attr-defined]
    assert platform.client.post("/v1/purchases", json=_purchase("R-2"), headers=old).status_code == 401
    assert platform.client.post("/v1/purchases", json=_purchase("R-3"), headers=_bearer(new["key"])).status_code == 200
