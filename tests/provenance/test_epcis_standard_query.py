"""The EPCIS 2.0 query language of the REST binding (issue 16): every standard parameter GS1's
OpenAPI lists and our events carry, lists of values (``|``), ordering and counts, the refusal of
a parameter we do not know (QueryParameterException naming it), and named queries that only the
organisation that made them may read, run or delete."""

from __future__ import annotations

from typing import Any

import pytest

from tests.provenance.support import FRESH, Api, at, commission, document, event, receive, sgtin, ship

ONE, TWO, THREE = (sgtin(FRESH, f"SN000{n}") for n in (1, 2, 3))
DOCK = "urn:epc:id:sgln:0950600.01347.0"  # a read point
STORE = "urn:epc:id:sgln:0950600.01347.9"  # a business location
DOCK_DL, STORE_DL = "https://id.gs1.org/414/0950600013477", "https://id.gs1.org/414/0950600013477/254/9"
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
