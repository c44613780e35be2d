"""The EPCIS 2.0 REST binding under /epcis (issue 16): capture jobs, the standard query
parameters with the next page in the Link header, the resources, the version headers, RFC 7807
problems, and the organisation scoping of /v1/epcis (another organisation's events stay hidden).
One test drives it over real HTTP, as a partner's client would."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from tests.provenance.support import FRESH, Api, at, commission, document, event, serving, sgtin, ship

ONE, TWO = sgtin(FRESH, "SN0001"), sgtin(FRESH, "SN0002")
SGLN = "urn:epc:id:sgln:0950600.01347.0"


def _capture(api: Api, who: str, doc: dict[str, Any]) -> dict[str, Any]:
    sent = api.client.post("/epcis/capture", json=doc, headers=api.headers(who))
    assert sent.status_code == 202, sent.text
    assert sent.headers["GS1-EPCIS-Version"] == "2.0.0"
    assert sent.headers["GS1-EPCIS-Capture-Limit"]
    job = api.client.get(sent.headers["location"], headers=api.headers(who))
    assert job.status_code == 200, job.text
    return dict(job.json())


def _history(api: Api) -> None:
    job = _capture(
        api,
        "demo-brand",
        document(
            commission([ONE, TWO], at(0)),
            ship([ONE], at(1), bizLocation={"id": SGLN}),
            event("ObjectEvent", at(2), bizStep="inspecting", epcList=[TWO]),
        ),
    )
    assert job["success"] is True
    assert job["running"] is False


def test_a_capture_job_says_what_became_of_the_document(api: Api) -> None:
    _history(api)
    rejected = _capture(api, "demo-brand", document(ship([ONE], at(3))))  # shipped twice
    assert rejected["success"] is False
    assert rejected["errors"][0]["title"] == "already_shipped"
    assert rejected["errors"][0]["type"] == "epcisException:ValidationException"


def test_the_standard_query_parameters_and_the_next_page(api: Api) -> None:
    _history(api)
    headers = api.headers("demo-brand")
    window = {"GE_eventTime": "2026-01-01T00:00:00Z", "LT_eventTime": "2026-02-01T00:00:00Z"}
    shipped = api.client.get("/epcis/events", params={**window, "EQ_bizStep": "shipping"}, headers=headers)
    assert shipped.status_code == 200, shipped.text
    assert shipped.headers["content-type"] == "application/ld+json"
    assert shipped.headers["GS1-CBV-Version"] == "2.0.0"
    assert [e["bizStep"] for e in shipped.json()["epcisBody"]["eventList"]] == ["shipping"]
    first = api.client.get("/epcis/events", params={**window, "MATCH_epc": TWO, "perPage": "1"}, headers=headers)
    assert len(first.json()["epcisBody"]["eventList"]) == 1
    second = api.client.get(first.links["next"]["url"], headers=headers)
    assert [e["bizStep"] for e in second.json()["epcisBody"]["eventList"]] == ["inspecting"]
    assert "next" not in second.links
    epc = api.client.get(f"/epcis/epcs/{quote(ONE, safe='')}/events", params=window, headers=headers)
    assert epc.status_code == 200, epc.text
    assert [e["bizStep"] for e in epc.json()["epcisBody"]["eventList"]] == ["commissioning", "shipping"]
    one_id = epc.json()["epcisBody"]["eventList"][1]["eventID"]
    single = api.client.get(f"/epcis/events/{quote(one_id, safe='')}", headers=headers)
    assert single.status_code == 200, single.text
    assert [e["eventID"] for e in single.json()["epcisBody"]["eventList"]] == [one_id]
    assert "shipping" in api.client.get("/epcis/bizSteps", headers=headers).json()["@set"]
    assert (
        "https://id.gs1.org/414/0950600013477" in api.client.get("/epcis/bizLocations", headers=headers).json()["@set"]
    )
    assert "ObjectEvent" in api.client.get("/epcis/eventTypes", headers=headers).json()["@set"]
    assert api.client.get("/epcis/dispositions", headers=headers).status_code == 200
    assert api.client.get("/epcis/readPoints", headers=headers).status_code == 200


def test_refusals_are_rfc_7807_problems(api: Api) -> None:
    headers = api.headers("demo-brand")
    unknown = api.client.get("/epcis/events", params={"EQ_userExtension": "x"}, headers=headers)
    assert unknown.status_code == 400
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["type"] == "epcisException:QueryParameterException"
    assert "EQ_userExtension" in unknown.json()["detail"]
    garbage = api.client.get("/epcis/events", params={"MATCH_epc": "garbage"}, headers=headers)
    assert garbage.status_code == 400
    missing = api.client.get("/epcis/events/urn:uuid:nothing", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["type"] == "epcisException:NoSuchResourceException"


def test_another_organisation_sees_none_of_the_events_nor_the_capture_jobs(api: Api) -> None:
    sent = api.client.post("/epcis/capture", json=document(commission([ONE], at(0))), headers=api.headers("demo-brand"))
    api.organisation("stranger", ["distributor"])
    stranger = api.headers("stranger")
    assert api.client.get(sent.headers["location"], headers=stranger).status_code == 404
    seen = api.client.get("/epcis/events", params={"MATCH_epc": ONE}, headers=stranger)
    assert seen.json()["epcisBody"]["eventList"] == []
    own = api.client.get("/epcis/events", params={"MATCH_epc": ONE}, headers=api.headers("demo-brand"))
    [one] = own.json()["epcisBody"]["eventList"]
    assert api.client.get(f"/epcis/events/{quote(one['eventID'], safe='')}", headers=stranger).status_code == 404
    assert api.client.get("/epcis/bizSteps", headers=stranger).json()["@set"] == []
    # A capture needs an organisation's key: it writes as that organisation, nobody else.
    refused = api.client.post("/epcis/capture", json=document(commission([TWO], at(0))), headers=api.headers("admin"))
    assert refused.status_code == 403


def test_a_client_over_real_http_captures_and_queries(api: Api) -> None:
    app = api.client.app
    with serving(app) as base, httpx.Client(base_url=base + "/epcis", headers=api.headers("demo-brand")) as client:  # type: ignore[arg-type]
        sent = client.post("/capture", json=document(commission([ONE], at(0))))
        assert sent.status_code == 202
        assert client.get(sent.headers["location"].removeprefix("/epcis")).json()["success"] is True
        found = client.get("/events", params={"MATCH_epc": ONE})
        assert len(found.json()["epcisBody"]["eventList"]) == 1
