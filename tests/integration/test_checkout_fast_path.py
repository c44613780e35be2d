"""The checkout's fast path answers exactly as the FastAPI route does.

Two applications over the same database and chain: the real one (fast path on) and a reference
with every purchase left to the route. Each request is sent to both, under order ids of their own
(``F-…`` and ``R-…``); the answers must match once the order id and operation id are set aside:
status, error body, headers, points, status of the award.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.api.app import create_app
from backend.api.checkout import CheckoutFastPath
from tests.budget import examples
from tests.support import Platform

pytestmark = pytest.mark.chain

Body = dict[str, Any] | bytes


def purchase(order: str, **changes: Any) -> dict[str, Any]:
    body = {
        "order_id": order,
        "customer_id": "fast-path",
        "store_id": "demo-store",
        "currency": "USD",
        "lines": [{"sku": "COFFEE", "quantity": 2, "unit_price": "12.50"}],
    }
    body.update(changes)
    return body


@pytest.fixture
def reference(platform: Platform) -> TestClient:
    return TestClient(
        create_app(platform.settings, platform.engine, checkout_fast_path=False), raise_server_exceptions=False
    )


def _send(client: TestClient, body: Body, headers: dict[str, str], query: str) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", **headers}
    return client.post(f"/v1/purchases{query}", content=content, headers=headers)


def _normal(response: Any, prefix: str) -> tuple[int, Any, list[tuple[str, str]]]:
    text = response.text.replace(f"{prefix}-", "X-")
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    if isinstance(body, dict):
        body.pop("operation_id", None)
    headers = sorted((k, v) for k, v in response.headers.items() if k != "content-length")
    return response.status_code, body, headers


def same_answer(
    platform: Platform, reference: TestClient, make: Any, headers: dict[str, str] | None = None, query: str = ""
) -> tuple[int, Any]:
    """Send ``make(prefix)`` to both applications; assert the answers match; return the fast one."""
    headers = platform.headers() if headers is None else headers
    fast = _normal(_send(platform.client, make("F"), headers, query), "F")
    slow = _normal(_send(reference, make("R"), headers, query), "R")
    assert fast == slow
    return fast[0], fast[1]


def test_the_common_case_is_answered_by_the_fast_path(
    platform: Platform, reference: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    accepted = CheckoutFastPath._accepted

    def spy(principal: Any, content_type: bytes | None, body: bytes) -> Any:
        result = accepted(principal, content_type, body)
        seen.append("fast" if result is not None else "route")
        return result

    monkeypatch.setattr(CheckoutFastPath, "_accepted", staticmethod(spy))
    status, body = same_answer(platform, reference, lambda p: purchase(f"{p}-1"))
    assert status == 200
    assert body["status"] == "pending"
    assert body["points_awarded"] > 0
    assert seen == ["fast"]  # the reference has no fast path


@pytest.mark.parametrize(
    ("case", "make", "who", "query"),
    [
        ("plain", lambda p: purchase(f"{p}-plain"), "checkout", ""),
        ("admin key", lambda p: purchase(f"{p}-admin"), "admin", ""),
        ("unknown store", lambda p: purchase(f"{p}-store", store_id="no-such-store"), "admin", ""),
        ("another store", lambda p: purchase(f"{p}-other", store_id="other-store"), "checkout", ""),
        ("currency", lambda p: purchase(f"{p}-eur", currency="EUR"), "checkout", ""),
        ("no key", lambda p: purchase(f"{p}-nokey"), None, ""),
        ("bad key", lambda p: purchase(f"{p}-badkey"), "bad", ""),
        ("brand key", lambda p: purchase(f"{p}-brand"), "brand", ""),
        (
            "zero quantity",
            lambda p: purchase(f"{p}-q0", lines=[{"sku": "A", "quantity": 0, "unit_price": "1"}]),
            "checkout",
            "",
        ),
        (
            "huge quantity",
            lambda p: purchase(f"{p}-qbig", lines=[{"sku": "A", "quantity": 10**30, "unit_price": "1"}]),
            "checkout",
            "",
        ),
        ("unknown field", lambda p: purchase(f"{p}-extra", coupon="X"), "checkout", ""),
        ("no lines", lambda p: purchase(f"{p}-nolines", lines=[]), "checkout", ""),
        ("malformed JSON", lambda p: b'{"order_id": ', "checkout", ""),
        ("not an object", lambda p: b"[1, 2]", "checkout", ""),
        ("NaN", lambda p: json.dumps(purchase(f"{p}-nan")).replace('"12.50"', "NaN").encode(), "checkout", ""),
        ("query string", lambda p: purchase(f"{p}-query"), "checkout", "?dry=1"),
        ("paid with points", lambda p: purchase(f"{p}-points", paid_with_points=10**9), "checkout", ""),
        (
            "paid with points, wrong code",
            lambda p: purchase(f"{p}-wrong", paid_with_points=5, customer_code="00000000"),
            "checkout",
            "",
        ),
        ("a code without points", lambda p: purchase(f"{p}-code", customer_code="12345678"), "checkout", ""),
        ("a malformed code", lambda p: purchase(f"{p}-short", paid_with_points=5, customer_code="12"), "checkout", ""),
        ("program key", lambda p: purchase(f"{p}-program"), "program", ""),
        ("customer token", lambda p: purchase(f"{p}-customer"), "customer", ""),
    ],
)
def test_every_answer_matches_the_route(
    platform: Platform, reference: TestClient, case: str, make: Any, who: str | None, query: str
) -> None:
    special = {None: {}, "bad": {"Authorization": "Bearer cred_nope"}}
    headers = special[who] if who in special else platform.headers(who) if who != "customer" else None
    headers = platform.as_customer("demo-customer") if headers is None else headers
    same_answer(platform, reference, make, headers, query)


def test_paying_with_points_at_the_till_matches_the_route(platform: Platform, reference: TestClient) -> None:
    """With the customer's one-time code (a new one for each app): the route records it, the same way."""
    platform.client.post("/v1/purchases", json=purchase("earn"), headers=platform.headers())
    platform.settle()

    def make(prefix: str) -> dict[str, Any]:
        return purchase(f"{prefix}-pay", paid_with_points=10, customer_code=platform.till_code("fast-path"))

    status, body = same_answer(platform, reference, make)
    assert (status, body["paid_with_points"]) == (200, 10)


def test_replays_and_conflicts_match_the_route(platform: Platform, reference: TestClient) -> None:
    status, _ = same_answer(platform, reference, lambda p: purchase(f"{p}-again"))
    assert status == 200
    status, body = same_answer(platform, reference, lambda p: purchase(f"{p}-again"))
    assert status == 200
    assert body["status"] == "pending"
    fast = platform.client.post("/v1/purchases", json=purchase("F-again"), headers=platform.headers())
    assert fast.headers["idempotent-replayed"] == "true"
    status, body = same_answer(platform, reference, lambda p: purchase(f"{p}-again", customer_id="someone-else"))
    assert status == 409
    assert body["error"]["field"] == "order_id"


def test_other_content_types_go_to_the_route(platform: Platform, reference: TestClient) -> None:
    for content_type in ("text/plain", "application/json; charset=utf-8"):
        answers = []
        for client, prefix in ((platform.client, "F"), (reference, "R")):
            response = client.post(
                "/v1/purchases",
                content=json.dumps(purchase(f"{prefix}-ct-{content_type[:4]}")),
                headers={**platform.headers(), "content-type": content_type},
            )
            answers.append(_normal(response, prefix))
        assert answers[0] == answers[1]


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [
        ("content-type", "text/plain", "application/json"),
        ("content-type", "application/json", "text/plain"),
        ("authorization", "Bearer cred_nope", "valid"),
        ("authorization", "valid", "Bearer cred_nope"),
    ],
)
def test_repeated_headers_are_read_as_the_route_reads_them(
    platform: Platform, reference: TestClient, name: str, first: str, second: str
) -> None:
    valid = platform.headers()["Authorization"]
    base = {"authorization": valid, "content-type": "application/json"}
    del base[name]
    repeated = [(name, valid if value == "valid" else value) for value in (first, second)]
    answers = []
    for client, prefix in ((platform.client, "F"), (reference, "R")):
        response = client.post(
            "/v1/purchases",
            content=json.dumps(purchase(f"{prefix}-dup-{first[:6]}")),
            headers=[*base.items(), *repeated],
        )
        answers.append(_normal(response, prefix))
    assert answers[0] == answers[1]


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.text(max_size=8),
    st.sampled_from(["12.50", "-1", "0", "1e30", "USD", "demo-store"]),
)
FIELDS = [
    "order_id",
    "customer_id",
    "store_id",
    "currency",
    "lines",
    "paid_with_points",
    "sku",
    "quantity",
    "unit_price",
    "category",
    "customer_code",
]


@settings(
    max_examples=examples(40, 400),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    top=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=3),
    line=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=2),
    n=st.integers(0, 10**6),
)
def test_mangled_purchases_match_the_route(
    platform: Platform, reference: TestClient, top: dict, line: dict, n: int
) -> None:
    def make(prefix: str) -> dict[str, Any]:
        body = purchase(f"{prefix}-h{n}")
        body["lines"] = [{**body["lines"][0], **line}]
        body.update(top)
        if isinstance(body.get("order_id"), str):  # keep each app's orders apart
            body["order_id"] = f"{prefix}-{body['order_id']}"
        return body

    same_answer(platform, reference, make)
