"""Query and export: filters, traces through aggregation and transformation, valid EPCIS 2.0
out, and each organisation sees only what concerns it."""

from __future__ import annotations

from typing import Any

import pytest

from backend.provenance.epcis.schema import validate_document
from backend.settings import get_settings
from tests.provenance.support import FRESH, Api, at, commission, event, pack, receive, sgtin, ship, unpack

GTIN, GTIN2 = FRESH, "09506000134369"
ONE, TWO, THREE = (sgtin(GTIN, f"SN000{n}") for n in (1, 2, 3))
CASE = "urn:epc:id:sscc:0950600.0000000001"
OTHER_CASE = "urn:epc:id:sscc:0950600.0000000002"
SGLN = "urn:epc:id:sgln:0950600.01347.0"


def find(api: Api, who: str = "admin", **params: Any) -> dict[str, Any]:
    """Events of this test's history (January 2026), not the demo's (a few days ago)."""
    return api.events(who, **{"until": "2026-02-01T00:00:00Z", **params})


def steps(doc: dict[str, Any]) -> list[str]:
    assert validate_document(doc, get_settings().schema_path) == []
    return [e.get("bizStep", e["type"]) for e in doc["epcisBody"]["eventList"]]


@pytest.fixture
def history(api: Api) -> Api:
    """ONE and TWO are packed, shipped, received and unpacked; a blend is made from ONE."""
    api.items("demo-brand", GTIN2, ["B1"])
    api.accept(
        "demo-brand",
        commission([ONE, TWO, THREE], at(0)),
        pack(CASE, [ONE, TWO], at(1)),
        ship([CASE], at(2)),
        receive([CASE], at(3), bizLocation={"id": SGLN}),
        unpack(CASE, [ONE, TWO], at(4)),
        pack(CASE, [THREE], at(5)),  # the case is reused later: not ONE's history
        event(
            "TransformationEvent",
            at(6),
            inputEPCList=[ONE],
            outputEPCList=[sgtin(GTIN2, "B1")],
            bizStep="commissioning",
        ),
    )
    return api


def test_filters(history: Api) -> None:
    # Events naming ONE itself (the transformation's bizStep is commissioning: it makes the blend).
    assert steps(find(history, epc=ONE)) == ["commissioning", "packing", "unpacking", "commissioning"]
    assert steps(find(history, biz_step="receiving")) == ["receiving"]
    assert steps(find(history, location="https://id.gs1.org/414/0950600013477")) == ["receiving"]
    assert steps(find(history, location=SGLN)) == ["receiving"]
    assert steps(find(history, gtin=GTIN2)) == ["commissioning"]
    assert steps(find(history, since="2026-01-05T10:00:00Z", until="2026-01-05T12:00:00Z")) == [
        "shipping",
        "receiving",
    ]
    assert steps(find(history, event_type="AggregationEvent")) == ["packing", "unpacking", "packing"]
    # The same item named by its EPC URN finds the same events.
    assert steps(find(history, epc="urn:epc:id:sgtin:9506000.013437.SN0001")) == steps(find(history, epc=ONE))


def test_backward_trace_follows_the_case_while_the_item_was_in_it(history: Api) -> None:
    # ONE's journey: its own events and the case's shipping and receipt, not the case's later use.
    assert steps(find(history, epc=ONE, trace="backward")) == [
        "commissioning",
        "packing",
        "shipping",
        "receiving",
        "unpacking",
        "commissioning",
    ]
    # The blend, backward: made from ONE, so ONE's journey comes with it.
    blend = steps(find(history, epc=sgtin(GTIN2, "B1"), trace="backward"))
    assert blend == ["commissioning", "packing", "shipping", "receiving", "unpacking", "commissioning"]


def test_forward_trace_finds_what_was_made_from_it(history: Api) -> None:
    forward = find(history, epc=ONE, trace="forward")
    assert any(e.get("outputEPCList") == [sgtin(GTIN2, "B1")] for e in forward["epcisBody"]["eventList"])
    assert "shipping" in steps(forward)


def test_each_organisation_sees_only_its_products(history: Api) -> None:
    history.organisation("outsider", ["brand"])
    assert find(history, "outsider")["epcisBody"]["eventList"] == []
    assert len(find(history, "demo-brand")["epcisBody"]["eventList"]) == 7
    history.organisation("haulier", ["distributor"])
    history.partner("demo-brand", "haulier", ["distributor"])
    # A partner sees the events naming the brand's products (not those naming only the brand's cases).
    assert len(find(history, "haulier")["epcisBody"]["eventList"]) == 5
    refused = history.client.get("/v1/epcis/events", headers=history.headers("checkout"))
    assert refused.status_code == 403
    bad = history.client.get(
        "/v1/epcis/events",
        params={"epc": "https://id.gs1.org/01/09506000134353/21/X"},
        headers=history.headers("admin"),
    )
    assert bad.status_code == 422
    assert "check digit" in bad.json()["error"]["message"]
