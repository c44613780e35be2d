"""The EPCIS 2.0 query language of the REST binding (issue 16): every standard parameter GS1's
OpenAPI lists and our events carry, lists of values (``|``), ordering and counts, the refusal of
a parameter we do not know (QueryParameterException naming it), and named queries that only the
organisation that made them may read, run or delete."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from backend.db.migrate import alembic_config
from tests.provenance.support import FRESH, Api, at, commission, document, event, receive, serving, sgtin, ship

ONE, TWO, THREE = (sgtin(FRESH, f"SN000{n}") for n in (1, 2, 3))
DOCK = "urn:epc:id:sgln:0950600.01347.0"  # a read point
STORE = "urn:epc:id:sgln:0950600.01347.9"  # a business location
DOCK_DL, STORE_DL = "https://id.gs1.org/414/0950600013477", "https://id.gs1.org/414/0950600013477/254/9"
FACETS_REVISION = "84b04d3de0c9"  # epcis_event_facets and its backfill
JANUARY = {"GE_eventTime": "2026-01-01T00:00:00Z", "LT_eventTime": "2026-02-01T00:00:00Z"}


def query(api: Api, who: str = "demo-brand", **params: Any) -> list[dict[str, Any]]:
    answer = api.client.get("/epcis/events", params={**JANUARY, **params}, headers=api.headers(who))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["epcisBody"]["eventList"])


def steps(events: list[dict[str, Any]]) -> list[str]:
    return [e.get("bizStep", e["type"]) for e in events]


@pytest.fixture
def located(api: Api) -> Api:
    """ONE is received at the dock of the store; TWO only at the dock (no business location)."""
    sent = api.client.post(
        "/epcis/capture",
        json=document(
            commission([ONE, TWO, THREE], at(0)),
            ship([ONE, TWO], at(1)),
            receive([ONE], at(2), readPoint={"id": DOCK}, bizLocation={"id": STORE}),
            receive([TWO], at(3), readPoint={"id": DOCK}),
        ),
        headers=api.headers("demo-brand"),
    )
    assert sent.status_code == 202, sent.text
    return api


def test_read_point_and_business_location_are_two_filters(located: Api) -> None:
    """Both given: an event must be at that read point AND at that business location (they used
    to collapse into one filter on either column)."""
    both = query(located, EQ_readPoint=DOCK, EQ_bizLocation=STORE)
    assert [e["epcList"] for e in both] == [[ONE]]
    assert len(query(located, EQ_readPoint=DOCK)) == 2
    assert query(located, EQ_readPoint=STORE) == []  # a business location is not a read point
    assert [e["epcList"] for e in query(located, EQ_bizLocation=STORE_DL)] == [[ONE]]


CASE = "urn:epc:id:sscc:0950600.0000000001"
LOT = "https://id.gs1.org/01/09506000134376/10/L1"
BLEND_CLASS = "https://id.gs1.org/01/09506000134369/10/B7"
PO, DESADV = "urn:epcglobal:cbv:bt:0950600013477:PO-1", "urn:epcglobal:cbv:bt:0950600013477:DA-1"
OWNER = "urn:epc:id:pgln:0950600.01347"


@pytest.fixture
def rich(api: Api) -> Api:
    """One history that carries every field the standard parameters filter on."""
    sent = api.client.post(
        "/epcis/capture",
        json=document(
            event(
                "ObjectEvent",
                at(0),
                action="ADD",
                bizStep="commissioning",
                disposition="active",
                epcList=[ONE, TWO],
                ilmd={"cbvmda:lotNumber": "L1", "cbvmda:countryOfOrigin": "FR"},
            ),
            event(
                "AggregationEvent",
                at(1),
                action="ADD",
                bizStep="packing",
                parentID=CASE,
                childEPCs=[ONE, TWO],
                childQuantityList=[{"epcClass": LOT, "quantity": 4}],
            ),
            ship(
                [CASE],
                at(2),
                bizTransactionList=[{"type": "po", "bizTransaction": PO}, {"type": "desadv", "bizTransaction": DESADV}],
                sourceList=[{"type": "owning_party", "source": OWNER}],
                destinationList=[{"type": "location", "destination": STORE}],
                persistentDisposition={"set": ["completeness_verified"], "unset": ["completeness_inferred"]},
            ),
            event(
                "ObjectEvent",
                at(3),
                bizStep="inspecting",
                quantityList=[{"epcClass": LOT, "quantity": 12.5, "uom": "KGM"}],
                sensorElementList=[
                    {
                        "sensorMetadata": {"time": "2026-01-05T11:00:00Z", "deviceID": "urn:epc:id:giai:0950600.1"},
                        "sensorReport": [{"type": "Temperature", "value": 4.5, "uom": "CEL"}],
                    }
                ],
            ),
            event(
                "TransformationEvent",
                at(4),
                bizStep="commissioning",
                transformationID="urn:epc:id:gdti:0950600.01347.T1",
                inputQuantityList=[{"epcClass": LOT, "quantity": 2}],
                outputQuantityList=[{"epcClass": BLEND_CLASS, "quantity": 10}],
            ),
        ),
        headers=api.headers("demo-brand"),
    )
    assert sent.status_code == 202, sent.text
    job = api.client.get(sent.headers["location"], headers=api.headers("demo-brand")).json()
    assert job["success"] is True, job
    return api


STANDARD_CASES: list[tuple[dict[str, str], list[str]]] = [
    ({"EQ_action": "ADD"}, ["commissioning", "packing"]),
    ({"EQ_action": "ADD|OBSERVE", "eventType": "ObjectEvent"}, ["commissioning", "shipping", "inspecting"]),
    ({"EQ_disposition": "https://ref.gs1.org/cbv/Disp-in_transit"}, ["shipping"]),
    ({"EQ_bizStep": "packing|urn:epcglobal:cbv:bizstep:inspecting"}, ["packing", "inspecting"]),
    ({"EQ_persistentDisposition_set": "completeness_verified"}, ["shipping"]),
    ({"EQ_persistentDisposition_unset": "completeness_verified"}, []),
    ({"EQ_transformationID": "urn:epc:id:gdti:0950600.01347.T1"}, ["commissioning"]),
    ({"MATCH_parentID": CASE}, ["packing"]),
    ({"MATCH_epc": CASE}, ["shipping"]),  # epcList or childEPCs, not parentID
    ({"MATCH_anyEPC": CASE}, ["packing", "shipping"]),
    ({"MATCH_epc": "urn:epc:idpat:sgtin:9506000.013437.*"}, ["commissioning", "packing"]),
    ({"MATCH_epcClass": LOT}, ["packing", "inspecting"]),
    ({"MATCH_inputEPCClass": LOT}, ["commissioning"]),
    ({"MATCH_outputEPCClass": BLEND_CLASS}, ["commissioning"]),
    ({"MATCH_anyEPCClass": "https://id.gs1.org/01/09506000134369"}, ["commissioning"]),
    ({"GT_quantity": "4"}, ["inspecting", "commissioning"]),
    ({"GE_quantity": "4", "LT_quantity": "10"}, ["packing"]),
    ({"EQ_quantity": "12.5"}, ["inspecting"]),
    ({"EQ_bizTransaction_po": PO}, ["shipping"]),
    ({"EQ_bizTransaction_desadv": PO}, []),  # a PO is not the despatch advice
    ({"EQ_source_owning_party": OWNER}, ["shipping"]),
    ({"EQ_destination_location": STORE_DL}, ["shipping"]),
    ({"EQ_type": "Temperature", "EQ_deviceID": "urn:epc:id:giai:0950600.1"}, ["inspecting"]),
    ({"EQ_ILMD_cbvmda:lotNumber": "L1|L2"}, ["commissioning"]),
    ({"EQ_ILMD_cbvmda:countryOfOrigin": "DE"}, []),
    ({"orderBy": "eventTime", "eventCountLimit": "2"}, ["commissioning", "inspecting"]),
    ({"orderBy": "eventTime", "orderDirection": "ASC", "eventCountLimit": "1"}, ["commissioning"]),
]


def test_standard_parameters(rich: Api) -> None:
    """Each case on one history (one fixture: the API's set-up costs more than the queries)."""
    answers = [(params, steps(query(rich, **params))) for params, _ in STANDARD_CASES]
    assert answers == STANDARD_CASES


def test_event_ids_record_times_and_error_declarations(rich: Api) -> None:
    commissioned, packed = query(rich, EQ_bizStep="commissioning|packing", eventType="ObjectEvent|AggregationEvent")
    ids = f"{commissioned['eventID']}|{packed['eventID']}"
    assert steps(query(rich, EQ_eventID=ids)) == ["commissioning", "packing"]
    recorded = commissioned["recordTime"]
    assert len(query(rich, GE_recordTime=recorded)) == 5
    assert query(rich, LT_recordTime=recorded) == []
    assert query(rich, EXISTS_errorDeclaration="true") == []
    inspected = query(rich, EQ_bizStep="inspecting")[0]
    declared = {
        **{k: v for k, v in inspected.items() if k not in ("eventID", "recordTime")},
        "errorDeclaration": {
            "declarationTime": "2026-01-06T00:00:00Z",
            "reason": "incorrect_data",
            "correctiveEventIDs": ["urn:uuid:2f1d4a6e-0000-4000-8000-000000000001"],
        },
    }
    assert rich.client.post("/v1/epcis/capture", json=document(declared), headers=rich.headers("demo-brand")).is_success
    assert steps(query(rich, EXISTS_errorDeclaration="true")) == ["inspecting"]
    assert steps(query(rich, EQ_errorReason="https://ref.gs1.org/cbv/ER-incorrect_data")) == ["inspecting"]
    assert steps(query(rich, EQ_errorReason="did_not_occur")) == []
    assert steps(query(rich, EQ_correctiveEventID="urn:uuid:2f1d4a6e-0000-4000-8000-000000000001")) == ["inspecting"]
    assert steps(query(rich, GE_errorDeclarationTime="2026-01-06T00:00:00Z")) == ["inspecting"]
    assert steps(query(rich, LT_errorDeclarationTime="2026-01-06T00:00:00+01:00")) == []


def test_order_and_pages_over_every_event(rich: Api) -> None:
    headers = rich.headers("demo-brand")
    params = {**JANUARY, "orderBy": "eventTime", "orderDirection": "DESC", "perPage": "2", "eventCountLimit": "3"}
    first = rich.client.get("/epcis/events", params=params, headers=headers)
    second = rich.client.get(first.links["next"]["url"], headers=headers)
    pages = [first.json()["epcisBody"]["eventList"], second.json()["epcisBody"]["eventList"]]
    assert [steps(p) for p in pages] == [["commissioning", "inspecting"], ["shipping"]]  # newest first, three
    assert "next" not in second.links
    too_many = rich.client.get("/epcis/events", params={**JANUARY, "maxEventCount": "4"}, headers=headers)
    assert too_many.status_code == 413
    assert too_many.json()["type"] == "epcisException:QueryTooLargeException"
    assert rich.client.get("/epcis/events", params={**JANUARY, "maxEventCount": "5"}, headers=headers).is_success


REFUSALS: list[tuple[dict[str, str], str]] = [
    ({"EQ_userExtension": "x"}, "EQ_userExtension"),
    ({"EQ_action": "ADD|REMOVE"}, "EQ_action"),
    ({"MATCH_inputEPC": "garbage"}, "MATCH_inputEPC"),
    ({"GT_quantity": "many"}, "GT_quantity"),
    ({"GE_recordTime": "yesterday"}, "GE_recordTime"),
    ({"GE_errorDeclarationTime": "0001-01-01T00:00:00+05:00"}, "GE_errorDeclarationTime"),
    ({"GE_eventTime": "0001-01-01T00:00:00+05:00"}, "GE_eventTime"),
    ({"orderBy": "bizStep"}, "orderBy"),
    ({"orderBy": "eventTime", "orderDirection": "UP"}, "orderDirection"),
    ({"eventCountLimit": "1"}, "eventCountLimit"),  # needs orderBy
    ({"orderBy": "eventTime", "eventCountLimit": "1", "maxEventCount": "1"}, "eventCountLimit"),
    ({"EQ_bizStep": "shipping||receiving"}, "EQ_bizStep"),
    ({"nextPageToken": "bm90LWEtdG9rZW4"}, "nextPageToken"),
]


@pytest.mark.sqlite_only  # refused before any SQL
def test_a_parameter_that_means_nothing_is_named(api: Api) -> None:
    for params, field in REFUSALS:
        refused = api.client.get("/epcis/events", params=params, headers=api.headers("demo-brand"))
        assert refused.status_code in (400, 422), (params, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["field"] == field, params
        if refused.status_code == 400:
            assert refused.json()["type"] == "epcisException:QueryParameterException"


def test_named_queries_belong_to_the_organisation_that_made_them(rich: Api) -> None:
    brand = rich.headers("demo-brand")
    definition = {"name": "shipped", "query": {"EQ_bizStep": ["shipping"], **JANUARY}}
    made = rich.client.post("/epcis/queries", json=definition, headers=brand)
    assert made.status_code == 201, made.text
    assert made.headers["location"] == "/epcis/queries/shipped"
    assert rich.client.post("/epcis/queries", json=definition, headers=brand).status_code == 409
    assert rich.client.get("/epcis/queries", headers=brand).json() == [definition]
    assert rich.client.get("/epcis/queries/shipped", headers=brand).json() == definition
    ran = rich.client.get("/epcis/queries/shipped/events", headers=brand)
    assert steps(ran.json()["epcisBody"]["eventList"]) == ["shipping"]
    # Another organisation can neither read, nor run, nor delete it; its own name space is empty.
    rich.organisation("stranger", ["distributor"])
    stranger = rich.headers("stranger")
    assert rich.client.get("/epcis/queries", headers=stranger).json() == []
    for method, path in (
        ("GET", "/epcis/queries/shipped"),
        ("GET", "/epcis/queries/shipped/events"),
        ("DELETE", "/epcis/queries/shipped"),
    ):
        refused = rich.client.request(method, path, headers=stranger)
        assert refused.status_code == 404, (method, path, refused.text)
        assert refused.json()["field"] == "queryName"
    assert rich.client.get("/epcis/queries/shipped", headers=brand).status_code == 200  # still there
    # The stranger's query of the same name runs over what the stranger may see: nothing of the brand's.
    assert rich.client.post("/epcis/queries", json=definition, headers=stranger).status_code == 201
    assert rich.client.get("/epcis/queries/shipped/events", headers=stranger).json()["epcisBody"]["eventList"] == []
    # An admin key has no organisation: no named queries.
    assert rich.client.post("/epcis/queries", json=definition, headers=rich.headers("admin")).status_code == 403
    # A bad definition is refused when made, naming the parameter; paging belongs to each run.
    bad = rich.client.post("/epcis/queries", json={"name": "x", "query": {"EQ_colour": ["red"]}}, headers=brand)
    assert bad.status_code == 400
    assert bad.json()["field"] == "EQ_colour"
    paged = rich.client.post("/epcis/queries", json={"name": "x", "query": {"perPage": 1}}, headers=brand)
    assert paged.json()["field"] == "perPage"
    assert rich.client.get("/epcis/queries/shipped/events?EQ_action=ADD", headers=brand).json()["field"] == "EQ_action"
    assert rich.client.delete("/epcis/queries/shipped", headers=brand).status_code == 204
    assert rich.client.get("/epcis/queries/shipped", headers=brand).status_code == 404
    assert rich.client.get("/epcis/queries/shipped", headers=stranger).status_code == 200  # the stranger's own


def test_a_standard_client_over_real_http(api: Api) -> None:
    """What a partner's EPCIS 2.0 client does, over a socket: capture (202, then the job),
    a query with several standard parameters, its pages through the Link header, a named query."""
    headers = api.headers("demo-brand")
    with serving(api.client.app) as base, httpx.Client(base_url=base, headers=headers) as client:  # type: ignore[arg-type]
        doc = document(
            commission([ONE, TWO, THREE], at(0)),
            ship([ONE, TWO, THREE], at(1), bizTransactionList=[{"type": "po", "bizTransaction": PO}]),
            receive([ONE], at(2), readPoint={"id": DOCK}, bizLocation={"id": STORE}),
            receive([TWO], at(3), readPoint={"id": DOCK}, bizLocation={"id": STORE}),
            receive([THREE], at(4), readPoint={"id": DOCK}),
        )
        sent = client.post("/epcis/capture", json=doc)
        assert sent.status_code == 202, sent.text
        job = client.get(sent.headers["location"])
        assert job.json()["success"] is True, job.text
        params = {**JANUARY, "EQ_bizStep": "receiving|shipping", "EQ_readPoint": DOCK, "EQ_bizLocation": STORE}
        pages, url, asked = [], "/epcis/events", {**params, "perPage": "1", "orderBy": "eventTime"}
        while url:
            page = client.get(url, params=asked or None)  # the next page: its URL as given
            assert page.status_code == 200, page.text
            pages.append([e["epcList"] for e in page.json()["epcisBody"]["eventList"]])
            url, asked = page.links.get("next", {}).get("url", ""), {}
        assert pages == [[[TWO]], [[ONE]]]  # newest first, one a page, THREE's receipt elsewhere
        made = client.post("/epcis/queries", json={"name": "received-in-store", "query": params})
        assert made.status_code == 201, made.text
        ran = client.get(made.headers["location"] + "/events")
        assert [e["epcList"] for e in ran.json()["epcisBody"]["eventList"]] == [[ONE], [TWO]]
        shipped = client.get("/epcis/events", params={"EQ_bizTransaction_po": PO, "MATCH_epc": THREE})
        assert [e["bizStep"] for e in shipped.json()["epcisBody"]["eventList"]] == ["shipping"]


def test_the_migration_indexes_the_events_stored_before_it(rich: Api) -> None:
    """Events captured before the facets existed are found by the new parameters once migrated."""
    config = alembic_config(rich.engine.url.render_as_string(hide_password=False))
    before = ScriptDirectory.from_config(config).get_revision(FACETS_REVISION).down_revision
    assert isinstance(before, str)
    command.downgrade(config, before)
    command.upgrade(config, "head")
    assert steps(query(rich, EQ_bizTransaction_po=PO)) == ["shipping"]
    assert steps(query(rich, EQ_type="Temperature", GT_quantity="12")) == ["inspecting"]
