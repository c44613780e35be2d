"""The Digital Link resolver without a chain: verdicts before anything is on chain, content
negotiation, scans with coarse locations only, and the other event types captured."""

from __future__ import annotations

from sqlmodel import Session, select

from backend.db.models import Scan
from tests.provenance.support import FRESH, Api, at, commission, document, event, sgtin, ship


def test_verdicts_before_the_chain_has_anything(api: Api) -> None:
    get = api.client.get
    assert get("/01/00614141123452/21/X", params={"format": "json"}).json()["verdict"] == "unknown"
    missing = get(f"/01/{FRESH}/21/NOPE", params={"format": "json"}).json()
    assert (missing["verdict"], missing["product"]["name"]) == ("unknown", "Tea caddy")
    pending = get(f"/01/{FRESH}/21/SN0001", params={"format": "json"}).json()
    assert pending["verdict"] == "unknown"
    assert pending["reason"] == "This item's registration is not on chain yet."
    assert pending["proof"] is None
    wrong = get(f"/01/{FRESH[:-1]}7/21/SN0001")
    assert wrong.status_code == 400
    assert wrong.json()["error"] == {
        "code": "invalid_digital_link",
        "field": "gtin",
        "message": f"GTIN {FRESH[:-1]}7 has check digit 7, expected 6",
    }


def test_people_get_a_page_and_programs_json(api: Api) -> None:
    page = api.client.get(f"/01/{FRESH}/21/SN0001", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-verdict="unknown"' in page.text
    assert page.headers["vary"] == "Accept"
    data = api.client.get(f"/01/{FRESH}/21/SN0001", headers={"Accept": "application/json"})
    assert data.headers["content-type"] == "application/json"


def test_scans_keep_a_coarse_location_and_nothing_personal(api: Api) -> None:
    url = f"/01/{FRESH}/21/SN0002"
    api.client.get(
        url,
        params={"lat": 48.85661, "lon": 2.35222, "country": "fr"},
        headers={"User-Agent": "Phone/1.0", "X-Forwarded-For": "203.0.113.9"},
    )
    api.client.get(url, headers={"X-Scan-Location": "35.6762,139.6503"})
    api.client.get(url, params={"scan": "false"})
    assert api.client.get(url, params={"lat": 48.8}).status_code == 422  # both coordinates or neither
    assert api.client.get(url, headers={"X-Scan-Location": "somewhere"}).status_code == 422
    with Session(api.engine) as session:
        scans = session.exec(select(Scan)).all()
    assert [(s.lat, s.lon, s.country) for s in scans] == [(48.9, 2.4, "FR"), (35.7, 139.7, None)]
    assert set(Scan.model_fields) == {
        "id",
        "item_id",
        "scanned_at",
        "lat",
        "lon",
        "country",
        "client",
        "source",
        "org_id",
    }
    # The client is a keyed hash of its network (the same client, both times), never an address.
    assert {s.source for s in scans} == {"anonymous"}
    assert len({s.client for s in scans}) == 1
    assert all(s.client and len(s.client) == 32 and "203.0.113" not in s.client for s in scans)


def test_transaction_and_association_events_are_captured_too(api: Api) -> None:
    one, two = sgtin(FRESH, "SN0004"), sgtin(FRESH, "SN0005")
    po = [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:9506000000008:PO-77"}]
    sensor = "urn:epc:id:giai:9506000.SENSOR-1"
    captured = api.accept(
        "demo-brand",
        commission([one, two], at(0)),
        event("TransactionEvent", at(1), action="ADD", bizStep="shipping", epcList=[one, two], bizTransactionList=po),
        event("AssociationEvent", at(2), action="ADD", bizStep="assembling", parentID=sensor, childEPCs=[one]),
    )
    assert [c["type"] for c in captured] == ["ObjectEvent", "TransactionEvent", "AssociationEvent"]
    # A TransactionEvent associates goods with a transaction; it moves nothing (issue 16): the goods
    # are shipped by an ObjectEvent, and a second shipment before a receipt is refused.
    api.accept("demo-brand", ship([one], at(3), bizTransactionList=po))
    late = api.capture("demo-brand", document(ship([one], at(4))))
    assert late.status_code == 422
    assert late.json()["error"]["problems"][0]["rule"] == "already_shipped"
