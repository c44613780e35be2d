"""The API's lists (``backend/api/routers/lists.py``): cursor pagination that never repeats or skips
a row, opaque cursors refused when malformed, a bounded ``limit``, a ``next`` link, search; and
who may list what: a brand lists only its own products and recalls (another brand's ``brand_id``
is refused, naming it), a checkout key only its own store's purchases, keys and members only an
admin. No chain needed: the rows are SQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.cli.seed import seed_demo
from backend.settings import Settings
from tests.provenance.support import Api
from tests.provenance.test_ownership import OUTSIDER_GTIN

FRESH = "09506000134376"


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Iterator[Api]:
    keys = seed_demo(engine, settings, 31337)
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        yield Api(
            client,
            engine,
            {"admin": keys.admin, "checkout": keys.checkout, "demo-brand": keys.brand, "program": keys.program},
        )


def every_page(api: Api, who: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Follow the `next` links to the end, checking the Link header says the same."""
    rows: list[dict[str, Any]] = []
    url: str | None = path
    first = True
    while url is not None:
        response = api.client.get(url, params=params if first else None, headers=api.headers(who))
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["items"]
        url, first = body["next"], False
        assert (response.headers.get("link") is None) == (url is None)
        if url is not None:
            assert response.headers["link"] == f'<{url}>; rel="next"'
    return rows


def test_pages_follow_each_other_without_repeating_or_skipping(api: Api) -> None:
    for n in range(5):
        body = {"customer_id": f"member-{n}", "email": f"m{n}@example.org"}
        enrolled = api.client.post("/v1/customers", json=body, headers=api.headers("admin"))
        assert enrolled.status_code == 200, enrolled.text
    rows = every_page(api, "admin", "/v1/customers", limit=2, q="member-")
    assert [r["customer_id"] for r in rows] == [f"member-{n}" for n in reversed(range(5))]  # newest first
    assert rows[0]["email"] == "m4@example.org"
    found = api.client.get("/v1/customers", params={"q": "M3@EXAMPLE"}, headers=api.headers("admin")).json()
    assert [r["customer_id"] for r in found["items"]] == ["member-3"]
    assert found["next"] is None
    # `%` and `_` are searched for, not wildcards.
    assert api.client.get("/v1/customers", params={"q": "%"}, headers=api.headers("admin")).json()["items"] == []

    for cursor in ("not-a-cursor", "WyJ4Il0", "e30"):  # junk, a string key for an integer list, an object
        refused = api.client.get("/v1/customers", params={"cursor": cursor}, headers=api.headers("admin"))
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["field"] == "cursor"
    for limit in (0, 201):
        assert api.client.get("/v1/customers", params={"limit": limit}, headers=api.headers("admin")).status_code == 422


def test_a_brand_lists_its_own_products_and_recalls_and_no_other(api: Api) -> None:
    api.product("demo-brand", FRESH, "Tea caddy")
    api.items("demo-brand", FRESH, ["SN0001", "SN0002"])
    rival = api.organisation("rival", ["brand", "manufacturer"])
    api.prefix("rival", "4012345")
    api.product("rival", OUTSIDER_GTIN, "Rival kettle")
    recalled = api.client.post(
        "/v1/recalls", json={"gtin": FRESH, "reason": "loose lid"}, headers=api.headers("demo-brand")
    )
    assert recalled.status_code == 201, recalled.text

    own = every_page(api, "rival", "/v1/products", limit=1)
    assert [p["gtin"] for p in own] == [OUTSIDER_GTIN]
    brand_products = every_page(api, "demo-brand", "/v1/products", limit=2)
    assert FRESH in [p["gtin"] for p in brand_products]
    assert OUTSIDER_GTIN not in [p["gtin"] for p in brand_products]
    assert every_page(api, "rival", "/v1/recalls") == []
    assert [r["reason"] for r in every_page(api, "demo-brand", "/v1/recalls")] == ["loose lid"]
    everything = every_page(api, "admin", "/v1/products", limit=3)
    assert {OUTSIDER_GTIN, FRESH} <= {p["gtin"] for p in everything}
    assert [p["gtin"] for p in every_page(api, "admin", "/v1/products", brand_id="rival")] == [OUTSIDER_GTIN]

    headers = {"Authorization": f"Bearer {rival}"}
    for path in ("/v1/products", "/v1/recalls"):
        refused = api.client.get(path, params={"brand_id": "demo-brand"}, headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["field"] == "brand_id"
        till = api.client.get(path, headers=api.headers("checkout"))
        assert till.status_code == 403
        assert till.json()["error"]["field"] == "Authorization"

    # An organisation sees itself and those it works with, not every organisation.
    assert [o["id"] for o in every_page(api, "rival", "/v1/organisations")] == ["rival"]
    assert {"rival", "demo-brand"} <= {o["id"] for o in every_page(api, "admin", "/v1/organisations", limit=1)}


def test_purchases_and_keys_are_listed_only_for_whom_they_belong(api: Api) -> None:
    for n in range(3):
        body = {
            "order_id": f"L-{n}",
            "customer_id": "lister",
            "store_id": "demo-store",
            "currency": "USD",
            "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": "10.00"}],
        }
        bought = api.client.post("/v1/purchases", json=body, headers=api.headers("checkout"))
        assert bought.status_code == 200, bought.text
    rows = every_page(api, "checkout", "/v1/purchases", limit=2)
    assert [r["order_id"] for r in rows] == ["L-2", "L-1", "L-0"]
    assert {r["status"] for r in rows} == {"pending"}  # no chain here: the awards wait in the outbox
    assert [r["order_id"] for r in every_page(api, "admin", "/v1/purchases", customer_id="lister", q="l-1")] == ["L-1"]
    assert len(every_page(api, "program", "/v1/purchases", store_id="demo-store")) == 3
    other_store = api.client.get("/v1/purchases", params={"store_id": "elsewhere"}, headers=api.headers("checkout"))
    assert other_store.status_code == 403
    assert other_store.json()["error"]["field"] == "store_id"
    unnamed = api.client.get("/v1/purchases", headers=api.headers("program"))
    assert unnamed.status_code == 422
    assert unnamed.json()["error"]["field"] == "store_id"

    keys = every_page(api, "admin", "/v1/api-keys", limit=2)
    assert {"admin", "checkout", "program", "organisation"} <= {k["role"] for k in keys}
    assert all("key_hash" not in k and "key" not in k for k in keys)
    assert [k["role"] for k in every_page(api, "admin", "/v1/api-keys", role="checkout")] == ["checkout"]
    for who in ("checkout", "program", "demo-brand"):
        for path in ("/v1/api-keys", "/v1/customers"):
            refused = api.client.get(path, headers=api.headers(who))
            assert refused.status_code == 403, (who, path)
            assert refused.json()["error"]["field"] == "Authorization"

    catalog = api.client.get("/v1/rewards", params={"limit": 1}, headers=api.headers("checkout"))
    assert catalog.status_code == 200
    assert isinstance(catalog.json(), list)  # the catalog stays a list; its pages are in the Link header
