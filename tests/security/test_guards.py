"""Request guards: rate limits per key, body size limits per route, CORS (deny by default, the
public verification pages open). Rates are made tiny so counts, not timings, decide."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.api.security import RateLimiter
from tests.support import Platform

# The database does not matter here: SQLite only, to keep make test short.
pytestmark = [pytest.mark.chain, pytest.mark.sqlite_only]
PURCHASE = {
    "order_id": "G-1",
    "customer_id": "gia",
    "store_id": "demo-store",
    "currency": "USD",
    "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": "4.00"}],
}


def _client(platform: Platform, **settings: object) -> TestClient:
    return TestClient(
        create_app(platform.settings.model_copy(update=settings), platform.engine), raise_server_exceptions=False
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_grants_its_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(burst_seconds=2, clock=clock)
    assert [limiter.check("k", 5) for _ in range(10)] == [0.0] * 10  # 5/s for 2 s
    assert limiter.check("k", 5) == pytest.approx(0.2)
    assert limiter.check("other", 5) == 0.0  # buckets are per name
    clock.now += 1.0
    assert [limiter.check("k", 5) == 0.0 for _ in range(6)] == [True] * 5 + [False]
    assert limiter.check("k", 0) == 0.0  # 0 = unlimited


def test_each_key_has_its_own_rate(platform: Platform) -> None:
    client = _client(platform, rate_limit_key=0.001, rate_limit_burst_seconds=3000, rate_limit_checkout=0.001)
    admin, checkout = platform.headers("admin"), platform.headers("checkout")
    statuses = [client.get("/v1/stores", headers=admin).status_code for _ in range(6)]
    # The first call verifies the key (charged to the address), then 3 tokens (0.001/s for 3000 s).
    assert statuses == [200, 200, 200, 200, 429, 429]
    limited = client.get("/v1/stores", headers=admin)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    # Another key is not affected.
    assert client.get("/v1/customers/demo-customer/balance", headers=checkout).status_code == 200


def test_guessing_keys_is_rate_limited_per_address(platform: Platform) -> None:
    client = _client(platform, rate_limit_anonymous=0.001, rate_limit_burst_seconds=5000)
    statuses = [
        client.get("/v1/stores", headers={"Authorization": f"Bearer cred_guess{n}"}).status_code for n in range(8)
    ]
    assert statuses == [401] * 5 + [429] * 3


def test_checkout_keys_get_a_generous_default(platform: Platform) -> None:
    settings = platform.settings
    assert settings.rate_limit_checkout >= 1500 > settings.rate_limit_key
    statuses = {
        platform.client.get(
            "/v1/purchases/none", params={"store_id": "demo-store"}, headers=platform.headers()
        ).status_code
        for _ in range(300)
    }
    assert statuses == {404}


def test_bodies_over_the_limit_are_refused_before_parsing(platform: Platform) -> None:
    client = _client(platform, max_body_bytes=4096, max_bulk_body_bytes=65536)
    headers = {**platform.headers(), "Content-Type": "application/json"}
    big = b'{"order_id": "' + b"x" * 5000 + b'"}'
    refused = client.post("/v1/purchases", content=big, headers=headers)
    assert refused.status_code == 413
    assert refused.json()["error"] == {
        "code": "payload_too_large",
        "message": "the body is over 4096 bytes",
        "field": "body",
    }

    # Without Content-Length (chunked), the body is counted as it arrives.
    chunked = client.post("/v1/purchases", content=iter([big[:3000], big[3000:]]), headers=headers)
    assert chunked.status_code == 413
    small = client.post("/v1/purchases", content=iter([b'{"order_id": ', b'"x"}']), headers=headers)
    assert small.status_code == 422  # parsed: the limit let it through

    # Bulk routes take larger bodies (up to 100,000 serials).
    serials = {"gtin": "09506000134352", "serials": [f"B{n:06d}" for n in range(3000)], "surprise": 1}
    bulk = client.post("/v1/items", json=serials, headers=platform.headers("brand"))
    assert bulk.status_code == 422, bulk.text
    too_bulky = client.post(
        "/v1/items",
        json={**serials, "serials": serials["serials"] * 3},  # type: ignore[operator]
        headers=platform.headers("brand"),
    )
    assert too_bulky.status_code == 413
    # A bulk body is read only for a valid key: strangers cannot make the server parse megabytes.
    for headers in ({}, {"Authorization": "Bearer cred_" + "w" * 43}):
        anonymous = client.post("/v1/items", json=serials, headers=headers)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["field"] == "Authorization"


def test_default_limits_fit_the_biggest_legitimate_bodies(platform: Platform) -> None:
    settings = platform.settings
    largest_items = len(b'{"gtin":"09506000134352","serials":[]}') + 100_000 * len(b'"12345678901234567890",')
    assert settings.max_bulk_body_bytes > largest_items
    assert settings.max_body_bytes > 1000 * len(b'{"sku":"' + b"S" * 64 + b'","quantity":1000000,"unit_price":"1"},')


@pytest.fixture
def cors_client(platform: Platform) -> TestClient:
    return _client(platform, cors_origins="https://shop.example, https://admin.example/")


def test_cors_is_denied_by_default(platform: Platform) -> None:
    preflight = platform.client.options(
        "/v1/purchases", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.json()["error"]["field"] == "Origin"
    actual = platform.client.get("/v1/stores", headers={**platform.headers("admin"), "Origin": "https://evil.example"})
    assert actual.status_code == 200
    assert "access-control-allow-origin" not in actual.headers


def test_cors_allows_configured_origins(cors_client: TestClient, platform: Platform) -> None:
    preflight = cors_client.options(
        "/v1/purchases",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    actual = cors_client.get("/v1/stores", headers={**platform.headers("admin"), "Origin": "https://admin.example"})
    assert actual.headers["access-control-allow-origin"] == "https://admin.example"
    assert "Origin" in actual.headers["vary"]
    denied = cors_client.options(
        "/v1/purchases", headers={"Origin": "https://shop.example.evil", "Access-Control-Request-Method": "POST"}
    )
    assert denied.status_code == 403


def test_the_public_verification_page_is_open_to_any_origin(platform: Platform) -> None:
    path = "/01/09506000134352/21/SN0001"
    page = platform.client.get(path, headers={"Origin": "https://anyone.example", "Accept": "application/json"})
    assert page.status_code == 200
    assert page.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in page.headers
    preflight = platform.client.options(
        path, headers={"Origin": "https://anyone.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-methods"] == "GET, OPTIONS"


def test_recall_scopes_are_open_to_any_origin_and_recalls_are_not(platform: Platform) -> None:
    """A verifier in a web page fetches recall scopes from anywhere; issuing a recall stays closed."""
    scope = platform.client.options(
        "/v1/recalls/1/scope", headers={"Origin": "https://anyone.example", "Access-Control-Request-Method": "GET"}
    )
    assert scope.status_code == 204
    assert scope.headers["access-control-allow-origin"] == "*"
    issue = platform.client.options(
        "/v1/recalls", headers={"Origin": "https://anyone.example", "Access-Control-Request-Method": "POST"}
    )
    assert issue.status_code == 403


def test_a_single_valued_query_parameter_given_twice_is_refused(platform: Platform) -> None:
    brand = platform.headers("brand")
    twice = platform.client.get("/v1/epcis/events?location=a&location=b", headers=brand)
    assert twice.status_code == 422
    assert twice.json()["error"]["field"] == "location"
    once = platform.client.get("/v1/epcis/events?location=a", headers=brand)
    assert once.status_code == 200
    stores = platform.client.get("/v1/purchases/none?store_id=demo-store&store_id=other", headers=platform.headers())
    assert stores.status_code == 422
