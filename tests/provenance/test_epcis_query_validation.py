"""What a query or a capture that means nothing gets (issue 16, defect 8): an eventTime beyond the
clock is refused, ``epc=garbage`` and ``trace`` without ``epc`` are 400s naming the parameter, and a
page that holds fewer events than match says so (``Link: <…>; rel="next"``)."""

from __future__ import annotations

from datetime import timedelta

from backend.db.types import utcnow
from tests.provenance.support import FRESH, Api, at, commission, document, event, sgtin

ONE = sgtin(FRESH, "SN0001")


def test_an_event_time_in_the_future_is_refused(api: Api) -> None:
    before = api.events(gtin=FRESH)["epcisBody"]["eventList"]
    refused = api.capture("demo-brand", document(commission([ONE], utcnow() + timedelta(days=2))))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "future_event_time"
    assert error["field"] == "epcisBody.eventList[0].eventTime"
    assert api.events(gtin=FRESH)["epcisBody"]["eventList"] == before
    # A few seconds of clock skew are not the future.
    api.accept("demo-brand", commission([ONE], utcnow() + timedelta(seconds=30)))


def test_a_query_for_an_epc_that_is_no_identifier_is_a_400(api: Api) -> None:
    bad = api.client.get("/v1/epcis/events", params={"epc": "garbage"}, headers=api.headers("admin"))
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"]["field"] == "epc"


def test_a_trace_without_an_epc_is_a_400(api: Api) -> None:
    bad = api.client.get("/v1/epcis/events", params={"trace": "both"}, headers=api.headers("admin"))
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"]["field"] == "trace"


def test_a_full_page_links_to_the_next_and_the_pages_hold_every_event_once(api: Api) -> None:
    items = [sgtin(FRESH, f"SN000{n}") for n in range(1, 6)]
    api.accept(
        "demo-brand",
        commission(items, at(0)),
        *(event("ObjectEvent", at(1), bizStep="inspecting", epcList=[item]) for item in items),
    )
    seen: list[str] = []
    params: dict[str, str] | None = {"gtin": FRESH, "until": "2026-02-01T00:00:00Z", "limit": "2"}
    url = "/v1/epcis/events"
    for _ in range(5):
        page = api.client.get(url, params=params, headers=api.headers("admin"))
        assert page.status_code == 200, page.text
        seen += [e["eventID"] for e in page.json()["epcisBody"]["eventList"]]
        if "next" not in page.links:
            break
        url, params = page.links["next"]["url"], None  # the link carries every parameter
    assert len(seen) == 6
    assert len(set(seen)) == 6
    assert "next" not in page.links  # the last page says there is no more


def test_a_page_token_not_given_by_the_server_is_a_400(api: Api) -> None:
    bad = api.client.get("/v1/epcis/events", params={"page_token": "!!"}, headers=api.headers("admin"))
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"]["field"] == "page_token"
