"""Provenance on a real chain: events anchored with inclusion proofs, recalls that follow
aggregation and transformation down to the consumer's scan, clone detection, the purchase link,
and `credance verify` checking it all against the node."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from backend.chain.manifest import manifest_path
from backend.db.types import utcnow
from backend.provenance.epcis.anchoring import Anchorer
from backend.provenance.proofcheck import verify_answer
from backend.provenance.verifier.item import item_of
from backend.provenance.verifier.pinning import pin_chain
from tests.e2e.scanning import PARIS, TOKYO, phone, scan, signals
from tests.provenance.support import BLEND, FRESH, Api, at, commission, document, event, pack, sgtin, ship
from tests.support import Platform

pytestmark = pytest.mark.chain

DEMO = "09506000134352"


def anchor_and_settle(platform: Platform) -> None:
    Anchorer(platform.engine, batch_size=256, max_delay_ms=0).step(force=True)
    platform.settle()


def scopes(platform: Platform) -> Any:
    """Recall scopes as `credance verify` fetches them, from this platform's API."""

    def fetch(recall_id: int) -> dict[str, Any]:
        response = platform.client.get(f"/v1/recalls/{recall_id}/scope")
        assert response.status_code == 200, response.text
        return dict(response.json())

    return fetch


def failures(platform: Platform, answer: dict[str, Any]) -> list[str]:
    """The checks of `credance verify` that fail on this answer (the registry pinned by the manifest)."""
    pin = pin_chain(platform.ctx.w3, manifest=manifest_path(platform.settings.deployments_dir, platform.ctx.chain_id))
    asked = item_of(answer["gtin"], answer["serial"])
    return [c.what for c in verify_answer(pin, asked, answer, fetch_scope=scopes(platform)).failures]


def verify(platform: Platform, gtin: str, serial: str, **params: Any) -> dict[str, Any]:
    response = platform.client.get(f"/01/{gtin}/21/{serial}", params={"format": "json", **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.nodes("ganache", "hardhat")
def test_events_are_anchored_and_every_proof_checks_out_on_chain(brand_goods: tuple[Platform, Api]) -> None:
    platform, _ = brand_goods
    anchor_and_settle(platform)  # the demo history: made, packed, shipped, received, unpacked
    answer = verify(platform, DEMO, "SN0001", scan="false")
    assert answer["verdict"] == "authentic"
    assert [s["event"] for s in answer["trail"]] == [
        "commissioning",
        "packing",
        "shipping",
        "receiving",
        "unpacking",
        "registered",
    ]
    assert all(s["block_number"] for s in answer["trail"])
    anchors = answer["proof"]["events"]
    assert len(anchors) == 5
    registry = platform.ctx.registry
    for anchor in anchors:
        nodes = [bytes.fromhex(n[2:]) for n in anchor["merkle_proof"]]
        assert registry.functions.isEventAnchored(
            bytes.fromhex(anchor["anchored"][2:]), bytes.fromhex(anchor["root"][2:]), nodes
        ).call()
    assert failures(platform, answer) == []
    # Tampering is caught: a changed salt breaks the commitment (the command line and every other
    # tampering: tests/e2e/test_verify_trusts_nothing.py).
    forged = json.loads(json.dumps(answer))
    forged["proof"]["salt"] = "0x" + "11" * 32
    assert "commitment of the serial asked" in failures(platform, forged)


def test_a_recall_reaches_what_was_packed_with_and_made_from_it(brand_goods: tuple[Platform, Api]) -> None:
    platform, api = brand_goods
    a, b, c = (sgtin(FRESH, f"SN000{n}") for n in (1, 2, 3))
    api.accept(
        "demo-brand",
        commission([a, b, c], at(0)),
        pack("urn:epc:id:sscc:9506000.0000000100", [a, b], at(1)),
        event(
            "TransformationEvent", at(2), inputEPCList=[a], outputEPCList=[sgtin(BLEND, "B1")], bizStep="commissioning"
        ),
    )
    recall = api.client.post(
        "/v1/recalls",
        json={"gtin": FRESH, "serials": ["SN0001"], "reason": "Lead in glaze"},
        headers=api.headers("demo-brand"),
    )
    assert recall.status_code == 201, recall.text
    assert recall.json()["count"] == 3  # SN0001, SN0002 packed with it, B1 made from it
    anchor_and_settle(platform)

    for gtin, serial in ((FRESH, "SN0001"), (FRESH, "SN0002"), (BLEND, "B1")):
        answer = verify(platform, gtin, serial)
        assert answer["verdict"] == "recalled", (serial, answer["reason"])
        assert "Lead in glaze" in answer["reason"]
        assert answer["proof"]["recall"]["method"] == "isItemRecalled(uint64,bytes32,bytes32,bytes32[])"
        assert failures(platform, answer) == []
    assert verify(platform, FRESH, "SN0003")["verdict"] == "authentic"

    # Made from a recalled item after the recall: still reached, at the consumer's scan.
    api.accept(
        "demo-brand",
        event(
            "TransformationEvent", at(5), inputEPCList=[b], outputEPCList=[sgtin(BLEND, "B2")], bizStep="commissioning"
        ),
    )
    anchor_and_settle(platform)  # the verifier fails on an event shown but not anchored yet
    later = verify(platform, BLEND, "B2")
    assert later["verdict"] == "recalled"
    assert f"made from an item of GTIN {FRESH}" in later["reason"]  # never its serial: another item's
    assert "SN0002" not in json.dumps(later)
    # Not provable item by item on chain; the verifier checks the recall is on chain and the brand's.
    assert failures(platform, later) == []


def test_recall_of_a_lot_and_of_a_whole_gtin(brand_goods: tuple[Platform, Api]) -> None:
    platform, api = brand_goods
    lot = api.client.post(
        "/v1/recalls", json={"gtin": DEMO, "lot": "LOT1", "reason": "Mislabelled"}, headers=api.headers("demo-brand")
    )
    assert lot.status_code == 201, lot.text
    assert lot.json()["count"] == 5
    whole = api.client.post(
        "/v1/recalls", json={"gtin": BLEND, "reason": "Withdrawn"}, headers=api.headers("demo-brand")
    )
    assert whole.status_code == 201, whole.text
    assert whole.json()["whole_gtin"] is True
    anchor_and_settle(platform)
    assert platform.ctx.registry.functions.isGtinRecalled(int(BLEND)).call()
    answer = verify(platform, BLEND, "B1")
    assert (answer["verdict"], answer["proof"]["recall"]["method"]) == ("recalled", "isGtinRecalled(uint64)")
    assert verify(platform, DEMO, "SN0004")["verdict"] == "recalled"
    again = api.client.post("/v1/recalls", json={"gtin": BLEND, "reason": "Again"}, headers=api.headers("demo-brand"))
    assert again.status_code == 409


def test_clones_are_flagged_with_the_reason(brand_goods: tuple[Platform, Api]) -> None:
    platform, api = brand_goods
    # Shoppers on three networks in Paris, then moments later on three others in Tokyo (a single
    # client's reports are not enough: tests/e2e/test_scan_signals.py).
    for network in (1, 2, 3):
        assert scan(phone(platform, network), DEMO, "SN0002", **PARIS)["verdict"] == "authentic"
    for network in (4, 5):
        scan(phone(platform, network), DEMO, "SN0002", **TOKYO)
    tokyo = scan(phone(platform, 6), DEMO, "SN0002", **TOKYO)
    assert tokyo["verdict"] == "suspicious"
    assert "km apart within" in tokyo["reason"]
    # Scanned far too often, by many.
    for network in range(1, 8):
        for _ in range(3):
            scan(phone(platform, network), DEMO, "SN0003")
    often = verify(platform, DEMO, "SN0003", scan="false")
    assert often["verdict"] == "suspicious"
    assert "scanned 21 times within 24 hours by 7 distinct network(s)" in often["reason"]
    # Scanned after it was decommissioned.
    retired = event(
        "ObjectEvent",
        utcnow() - timedelta(minutes=1),
        action="DELETE",
        bizStep="decommissioning",
        epcList=[sgtin(DEMO, "SN0004")],
    )
    api.accept("demo-brand", retired)
    gone = verify(platform, DEMO, "SN0004")
    assert gone["verdict"] == "suspicious"
    assert "after it was decommissioned" in gone["reason"]
    # Coarse location only: what is stored is rounded to 0.1°.
    bad = platform.client.get(f"/01/{DEMO}/21/SN0005", params={"lat": 91, "lon": 0})
    assert bad.status_code == 422


def test_a_purchase_marks_the_item_sold_and_earns_the_genuine_bonus(brand_goods: tuple[Platform, Api]) -> None:
    platform, api = brand_goods
    api.accept("demo-brand", commission([sgtin(FRESH, f"SN000{n}") for n in (1, 2, 3)], at(0)))
    recall = api.client.post(
        "/v1/recalls",
        json={"gtin": FRESH, "serials": ["SN0003"], "reason": "Cracked"},
        headers=api.headers("demo-brand"),
    )
    assert recall.status_code == 201
    # The program (not the brand) pays a bonus for genuine tea caddies.
    bonus = {
        "max_points_per_item": 50,
        "max_points_per_order": 100,
        "rules": [{"id": "caddy", "points": 50, "gtins": [FRESH]}],
    }
    published = api.client.post("/v1/rule-sets", json={"genuine_bonuses": bonus}, headers=api.headers("admin"))
    assert published.status_code == 201, published.text
    anchor_and_settle(platform)

    def buy(order: str, serial: str) -> int:
        body = {
            "order_id": order,
            "customer_id": "carol",
            "store_id": "demo-store",
            "currency": "USD",
            "lines": [{"sku": "CADDY", "quantity": 1, "unit_price": "10.00", "gtin": FRESH, "serial": serial}],
        }
        response = api.client.post("/v1/purchases", json=body, headers=api.headers("checkout"))
        assert response.status_code == 200, response.text
        return int(response.json()["points_awarded"])

    assert buy("P-1", "SN0001") == 10 + 50  # genuine: the program's bonus for this GTIN
    assert buy("P-2", "SN0001") == 10  # the same serial sold again: no bonus
    assert buy("P-3", "NOPE") == 10  # unknown serial
    assert buy("P-4", "SN0003") == 10  # recalled
    platform.settle()
    sold = verify(platform, FRESH, "SN0001", scan="false")
    assert sold["item"]["status"] == "sold"
    assert "retail_selling" in [s["event"] for s in sold["trail"]]
    balance = api.client.get("/v1/customers/carol/balance", headers=api.headers("checkout")).json()
    assert balance["balance"] == 60 + 10 + 10 + 10
    # Scanned again and again after the sale: the buyer checks a few times (however many, it is
    # one client), a copy in other hands keeps going.
    for _ in range(8):
        assert verify(platform, FRESH, "SN0001")["verdict"] == "authentic"
    assert signals(verify(platform, FRESH, "SN0001", scan="false")) == {"after_sale": "soft"}
    scan(phone(platform, 1), FRESH, "SN0001")
    scan(phone(platform, 2), FRESH, "SN0001")
    resold = scan(phone(platform, 2), FRESH, "SN0001")
    assert resold["verdict"] == "suspicious"
    assert "scanned 11 times by 3 distinct network(s) since it was sold" in resold["reason"]


def test_roles_prefixes_and_partners_go_on_chain_and_come_back_mirrored(brand_goods: tuple[Platform, Api]) -> None:
    platform, api = brand_goods
    api.organisation("rival", ["brand"])
    api.organisation("haulier", ["distributor"])
    admin = api.headers("admin")
    # The demo brand got its prefix when it was seeded: it cannot be taken again, nor nested.
    assert api.client.get("/v1/organisations/demo-brand", headers=admin).json()["company_prefixes"] == ["9506000"]
    again = api.client.post("/v1/organisations/rival/prefixes", json={"prefix": "9506000"}, headers=admin)
    assert again.status_code == 409
    nested = api.client.post("/v1/organisations/rival/prefixes", json={"prefix": "95060001"}, headers=admin)
    assert nested.status_code == 409
    # A logistics company holds a prefix of its own (its SSCCs), though it is no brand.
    assigned = api.client.post("/v1/organisations/haulier/prefixes", json={"prefix": "4012345"}, headers=admin)
    assert assigned.status_code == 201, assigned.text
    assert assigned.json()["company_prefixes"] == ["4012345"]
    squat = api.client.post(
        "/v1/products", json={"gtin": "09506000134383", "name": "Fake"}, headers=api.headers("rival")
    )
    assert squat.status_code == 403
    assert "9506000" in squat.json()["error"]["message"]
    api.partner("demo-brand", "haulier", ["distributor"])
    changed = api.client.patch("/v1/organisations/haulier", json={"roles": ["distributor", "retailer"]}, headers=admin)
    assert changed.status_code == 200, changed.text
    platform.settle()

    registry = platform.ctx.registry
    brand = api.client.get("/v1/organisations/demo-brand", headers=admin).json()
    assert registry.functions.ownerOfPrefix(19506000).call().hex() == brand["chain_id"][2:]
    haulier_id = api.client.get("/v1/organisations/haulier", headers=admin).json()["chain_id"]
    assert registry.functions.ownerOfPrefix(14012345).call().hex() == haulier_id[2:]
    haulier = api.client.get("/v1/organisations/haulier", headers=admin).json()
    assert haulier["on_chain"]["roles"] == ["distributor", "retailer"]
    assert brand["partners"] == [{"partner_id": "haulier", "roles": ["distributor"], "on_chain_roles": ["distributor"]}]
    suspended = api.client.patch("/v1/organisations/haulier", json={"active": False}, headers=admin)
    assert suspended.status_code == 200
    platform.settle()
    assert api.client.get("/v1/organisations/haulier", headers=admin).json()["on_chain"]["active"] is False
    refused = api.capture("haulier", document(ship([sgtin(DEMO, "SN0005")], utcnow())))
    assert refused.status_code == 403  # a suspended partner writes nothing
    assert refused.json()["error"]["problems"][0]["rule"] == "unauthorised_writer"
