"""Finding 8: crashes on hostile nesting. An EPCIS extension nested ~500 deep was a 500 (a
RecursionError in the event hash, with a ~0.5 MB traceback per request), and a body of ~1,000
nested arrays around a NUL an anonymous 500 in the request guards. Now depth is measured before
anything recurses, on the raw bytes in the guards and on each event in capture, and refused with a
4xx naming the limit; nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session, func, select

from backend.db.models import EpcisEventRecord, Operation, Purchase
from tests.provenance.support import FRESH, Api, at, commission, document, sgtin
from tests.support import Platform

pytestmark = [pytest.mark.chain, pytest.mark.sqlite_only]


def nested(depth: int, core: Any) -> Any:
    for _ in range(depth):
        core = {"example:level": core}
    return core


def arrays(depth: int, core: str) -> str:
    return "[" * depth + core + "]" * depth


def written(platform: Platform) -> tuple[int, int, int]:
    with Session(platform.engine) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(table)).one()
            for table in (EpcisEventRecord, Operation, Purchase)
        )


@pytest.fixture
def api(platform: Platform) -> Api:
    api = Api(
        platform.client,
        platform.engine,
        {"admin": platform.keys["admin"], "checkout": platform.keys["checkout"], "demo-brand": platform.keys["brand"]},
    )
    api.product("demo-brand", FRESH, "Tea caddy")
    api.items("demo-brand", FRESH, ["SN0001"])
    return api


def deep_commissioning(depth: int) -> dict[str, Any]:
    event = commission([sgtin(FRESH, "SN0001")], at(0))
    event["example:extension"] = nested(depth, "x")
    return document(event, prefixes={"example": "https://example.com/epcis/"})


def test_a_deeply_nested_epcis_extension_is_refused_naming_the_limit(platform: Platform, api: Api) -> None:
    before = written(platform)
    hostile = api.capture("demo-brand", deep_commissioning(500))
    assert hostile.status_code == 422, hostile.text[:300]
    assert hostile.json()["error"]["code"] == "too_deep"
    assert "64 levels" in hostile.json()["error"]["message"]
    assert len(hostile.content) < 1000  # no traceback, nothing echoed back

    # Under the body's limit but over the events': refused by capture, naming the event.
    deep = api.capture("demo-brand", deep_commissioning(40))
    assert deep.status_code == 422, deep.text[:300]
    (problem,) = deep.json()["error"]["problems"]
    assert (problem["field"], problem["rule"]) == ("epcisBody.eventList[0]", "too_deep")
    assert "32 levels" in problem["message"]
    assert written(platform) == before

    fine = api.capture("demo-brand", deep_commissioning(20))  # extensions of a sane depth still pass
    assert fine.status_code == 201, fine.text[:300]


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/v1/purchases", "checkout"),
        ("/v1/customers", "checkout"),
        ("/v1/rule-sets", "admin"),
        ("/v1/epcis/capture", "brand"),
        ("/v1/customers", None),
        ("/v1/purchases", None),
    ],
)
def test_a_thousand_nested_arrays_around_a_nul_is_a_422(platform: Platform, path: str, who: str | None) -> None:
    before = written(platform)
    headers = {"Content-Type": "application/json", **(platform.headers(who) if who else {})}
    for body in (arrays(1000, '"\\u0000"'), arrays(100_000, "1"), '{"order_id": ' + arrays(70, "0") + "}"):
        answer = platform.client.post(path, content=body, headers=headers)
        assert answer.status_code == 422, (path, answer.text[:300])
        assert answer.json()["error"] == {
            "code": "too_deep",
            "field": "body",
            "message": "the body nests arrays and objects deeper than 64 levels (the limit)",
        }
    assert written(platform) == before


def test_brackets_inside_strings_are_text(platform: Platform) -> None:
    """Only structure counts: a name full of brackets is an ordinary value."""
    body = {"customer_id": "bracket-fan", "name": "[" * 90 + "{" * 90 + '\\"]'}  # escapes too
    headers = {"Content-Type": "application/json", **platform.headers()}
    answer = platform.client.post("/v1/customers", content=json.dumps(body), headers=headers)
    assert answer.status_code in (200, 201), answer.text[:300]


def test_deep_looking_query_values_and_paths_are_plain_text(platform: Platform) -> None:
    """Query parameters and paths are never parsed into structures: brackets in them are matched
    as text or refused by the parameter's own rules, never a 5xx."""
    brand = platform.headers("brand")
    for params in (
        {"epc": arrays(1000, "x")},
        {"epc": "urn:epc:id:sgtin:" + "[" * 5000},
        {"biz_step": "{" * 150},
        {"gtin": arrays(10, "1")},
        {"trace": "backward", "epc": arrays(300, "x")},
    ):
        answer = platform.client.get("/v1/epcis/events", params=params, headers=brand)
        assert answer.status_code < 500, (params, answer.text[:300])
    answer = platform.client.get(f"/01/{FRESH}/21/" + "%5B" * 2000, params={"format": "json"})
    assert answer.status_code < 500, answer.text[:300]
