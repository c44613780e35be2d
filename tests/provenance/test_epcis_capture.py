"""Capture is all or nothing: bad input gets one 4xx naming every problem, and nothing is stored."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, func, select

from backend.db.models import EpcisEventRecord, Item
from tests.provenance.support import FRESH, Api, at, commission, document, event, pack, receive, sgtin, ship

GTIN = FRESH
ONE, TWO, THREE = (sgtin(GTIN, f"SN000{n}") for n in (1, 2, 3))


def stored(api: Api) -> int:
    with Session(api.engine) as session:
        return session.exec(select(func.count()).select_from(EpcisEventRecord)).one()


def rejected(api: Api, who: str, doc: dict[str, Any], status: int) -> list[dict[str, str]]:
    before = stored(api)
    response = api.capture(who, doc)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"].startswith("EPCIS document rejected")
    assert stored(api) == before
    return list(error["problems"])


def test_a_life_is_captured_and_items_follow_it(api: Api) -> None:
    api.accept(
        "demo-brand",
        commission([ONE, TWO], at(0)),
        pack("urn:epc:id:sscc:0950600.0000000001", [ONE, TWO], at(1)),
        ship(["urn:epc:id:sscc:0950600.0000000001"], at(2)),
    )
    with Session(api.engine) as session:
        statuses = dict(session.exec(select(Item.serial, Item.status).where(Item.gtin == GTIN)).all())
    assert statuses["SN0001"] == statuses["SN0002"] == "in_transit"
    assert statuses["SN0003"] == "registered"


def test_schema_violations_are_each_named(api: Api) -> None:
    bad = event("ObjectEvent", at(0), action="SHIP", epcList=["not a uri"], bizStep="flying")
    problems = rejected(api, "demo-brand", document(bad, commission([ONE], at(0))), 422)
    fields = {p["field"] for p in problems}
    assert {
        "epcisBody.eventList[0].action",
        "epcisBody.eventList[0].epcList[0]",
        "epcisBody.eventList[0].bizStep",
    } <= fields
    assert {p["rule"] for p in problems} == {"schema"}


def test_not_a_document(api: Api) -> None:
    problems = rejected(api, "demo-brand", {"type": "EPCISDocument"}, 422)
    assert any("@context" in p["message"] for p in problems)
    bare = {"@context": document()["@context"], **commission([ONE], at(0))}  # valid EPCIS, but not a document
    assert rejected(api, "demo-brand", bare, 422)[0]["rule"] == "not_a_document"
    malformed = api.client.post(
        "/v1/epcis/capture",
        content=b'{"type": ',
        headers={**api.headers("demo-brand"), "Content-Type": "application/ld+json"},
    )
    assert malformed.status_code == 400


def test_unknown_gtin_unknown_serial_and_wrong_check_digit(api: Api) -> None:
    doc = document(
        commission([sgtin("00614141123452", "X1")], at(0)),
        commission([sgtin(GTIN, "NOPE")], at(0)),
        commission(["https://id.gs1.org/01/09506000134353/21/SN0001"], at(0)),
    )
    # A wrong check digit is reported before anything is looked up.
    problems = rejected(api, "demo-brand", doc, 422)
    assert [(p["field"], p["rule"]) for p in problems] == [("epcisBody.eventList[2]", "invalid_identifier")]
    assert "check digit 3, expected 2" in problems[0]["message"]
    problems = rejected(api, "demo-brand", document(*doc["epcisBody"]["eventList"][:2]), 422)
    assert [(p["field"], p["rule"]) for p in problems] == [
        ("epcisBody.eventList[0]", "unknown_gtin"),
        ("epcisBody.eventList[1]", "unknown_item"),
    ]


def test_only_authorised_parties_write_for_a_brand(api: Api) -> None:
    api.organisation("haulier", ["distributor"])
    api.organisation("stranger", ["distributor"])
    api.accept("demo-brand", commission([ONE], at(0)))
    # Not authorised by the brand at all: 403, naming the GTIN and the brand.
    problems = rejected(api, "stranger", document(ship([ONE], at(1))), 403)
    assert problems[0]["rule"] == "unauthorised_writer"
    assert "demo-brand" in problems[0]["message"]
    assert GTIN in problems[0]["message"]
    # A distributor may ship and receive, but not commission, for the brand that authorised it.
    api.partner("demo-brand", "haulier", ["distributor"])
    api.accept("haulier", ship([ONE], at(1)), receive([ONE], at(2)))
    assert rejected(api, "haulier", document(commission([TWO], at(3))), 403)[0]["rule"] == "unauthorised_writer"
    # A revoked partner can write nothing more.
    api.partner("demo-brand", "haulier", [])
    assert rejected(api, "haulier", document(ship([ONE], at(4))), 403)[0]["rule"] == "unauthorised_writer"
    # Keys that are not an organisation's cannot capture at all.
    response = api.client.post("/v1/epcis/capture", json=document(ship([ONE], at(4))), headers=api.headers("checkout"))
    assert response.status_code == 403


def test_duplicates_are_refused(api: Api) -> None:
    first = commission([ONE], at(0))
    api.accept("demo-brand", first)
    # The same event again, even written differently (Digital Link vs EPC URN, other key order).
    same = {**dict(reversed(list(first.items()))), "epcList": ["urn:epc:id:sgtin:9506000.013437.SN0001"]}
    problems = rejected(api, "demo-brand", document(same), 409)
    assert problems[0]["rule"] == "duplicate_event"
    # Twice in one document.
    second = ship([ONE], at(1))
    problems = rejected(api, "demo-brand", document(second, second), 409)
    assert [(p["field"], p["rule"]) for p in problems] == [("epcisBody.eventList[1]", "duplicate_event")]
    # An eventID reused for other content.
    api.accept("demo-brand", {**ship([ONE], at(1)), "eventID": "urn:uuid:6f1e1a4c-0000-4000-8000-000000000001"})
    reuse = {**receive([ONE], at(2)), "eventID": "urn:uuid:6f1e1a4c-0000-4000-8000-000000000001"}
    assert rejected(api, "demo-brand", document(reuse), 409)[0]["rule"] == "duplicate_event_id"


def test_rule_violations_name_each_event_and_store_nothing(api: Api) -> None:
    doc = document(
        commission([ONE], at(0)),  # fine on its own, but the whole document is refused
        ship([TWO], at(1)),  # not commissioned
        receive([ONE], at(2)),  # never shipped
    )
    problems = rejected(api, "demo-brand", doc, 422)
    assert [(p["field"], p["rule"]) for p in problems] == [
        ("epcisBody.eventList[1]", "not_commissioned"),
        ("epcisBody.eventList[2]", "receipt_without_shipment"),
    ]
    assert "cannot be shipped before it is commissioned" in problems[0]["message"]


def test_a_late_event_that_contradicts_the_recorded_future_is_refused(api: Api) -> None:
    api.accept("demo-brand", commission([THREE], at(0)), ship([THREE], at(5)))
    late = event("ObjectEvent", at(2), action="DELETE", bizStep="decommissioning", epcList=[THREE])
    problems = rejected(api, "demo-brand", document(late), 422)
    assert problems[0]["rule"] == "after_decommissioning"
    assert "would contradict recorded event" in problems[0]["message"]
    # A late event that fits is accepted (events may arrive late).
    api.accept("demo-brand", event("ObjectEvent", at(3), bizStep="inspecting", epcList=[THREE]))


def test_one_brand_cannot_write_for_another(api: Api) -> None:
    api.organisation("rival", ["brand", "manufacturer"])
    api.prefix("rival", "0614141")
    api.product("rival", "00614141123452")
    api.items("rival", "00614141123452", ["R1"])
    problems = rejected(api, "demo-brand", document(commission([sgtin("00614141123452", "R1")], at(0))), 403)
    assert "'rival'" in problems[0]["message"]


def test_overlong_identifiers_are_refused(api: Api) -> None:
    long_uri = "urn:example:" + "x" * 400
    problems = rejected(api, "demo-brand", document(event("ObjectEvent", at(0), epcList=[long_uri])), 422)
    assert problems[0]["rule"] == "invalid_identifier"
    assert "longer than 300" in problems[0]["message"]
