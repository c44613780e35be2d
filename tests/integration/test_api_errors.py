"""Bad input gets a 4xx JSON error that names the problem, and changes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from backend.db.models import Operation, Purchase
from tests.support import Platform

pytestmark = pytest.mark.chain

GOOD = {
    "order_id": "E-1",
    "customer_id": "erin",
    "store_id": "demo-store",
    "currency": "USD",
    "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": "5.00"}],
}


def counts(platform: Platform) -> tuple[int, int]:
    with Session(platform.engine) as session:
        return session.exec(select(func.count()).select_from(Purchase)).one(), session.exec(
            select(func.count()).select_from(Operation)
        ).one()


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"lines": [{"sku": "A", "quantity": 0, "unit_price": "1"}]}, 422, "lines[0].quantity"),
        ({"lines": [{"sku": "A", "quantity": 1, "unit_price": "-1"}]}, 422, "lines[0].unit_price"),
        ({"lines": [{"sku": "A", "quantity": 1, "unit_price": "1e40"}]}, 422, "lines[0].unit_price"),
        ({"lines": [{"sku": "A", "quantity": 10**12, "unit_price": "1"}]}, 422, "lines[0].quantity"),
        ({"lines": []}, 422, "lines"),
        ({"surprise": True}, 422, "surprise"),
        ({"currency": "usd"}, 422, "currency"),
        ({"currency": "EUR"}, 422, "currency"),
        ({"store_id": "nowhere"}, 403, "store_id"),
        # Paying with points at a till needs the customer's one-time code before anything else.
        ({"paid_with_points": 100}, 403, "customer_code"),
    ],
)
def test_bad_purchases_are_refused_without_a_trace(
    platform: Platform, change: dict[str, object], status: int, field: str
) -> None:
    before = counts(platform)
    response = platform.client.post("/v1/purchases", json={**GOOD, **change}, headers=platform.headers())
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert error["message"]
    assert counts(platform) == before


def test_malformed_json(platform: Platform) -> None:
    response = platform.client.post(
        "/v1/purchases", content=b'{"order_id": ', headers={**platform.headers(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer cred_wrong"}, {"Authorization": "Basic x"}])
def test_missing_or_wrong_key(platform: Platform, headers: dict[str, str]) -> None:
    for method, path in [("post", "/v1/purchases"), ("get", "/v1/customers/demo-customer/balance")]:
        response = platform.client.request(method, path, json=GOOD, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["field"] == "Authorization"


def test_keys_are_scoped_to_their_role(platform: Platform) -> None:
    brand = platform.headers("brand")
    assert platform.client.post("/v1/purchases", json=GOOD, headers=brand).status_code == 403
    checkout = platform.headers("checkout")
    assert (
        platform.client.post(
            "/v1/stores", json={"id": "x", "name": "X", "currency": "USD"}, headers=checkout
        ).status_code
        == 403
    )
    product = {"gtin": "96385074", "name": "X"}
    assert platform.client.post("/v1/products", json=product, headers=checkout).status_code == 403


def test_revoked_key_stops_working(platform: Platform) -> None:
    admin = platform.headers("admin")
    created = platform.client.post(
        "/v1/api-keys", json={"role": "checkout", "store_id": "demo-store"}, headers=admin
    ).json()
    key = {"Authorization": f"Bearer {created['key']}"}
    assert platform.client.get("/v1/customers/demo-customer/balance", headers=key).status_code == 200
    assert platform.client.delete(f"/v1/api-keys/{created['key_id']}", headers=admin).status_code == 204
    platform.client.app.state.credance.verifier._cache.clear()  # type: ignore[attr-defined]
    assert platform.client.get("/v1/customers/demo-customer/balance", headers=key).status_code == 401


def test_unknown_customer_balance_and_history(platform: Platform) -> None:
    for path, who in (("/v1/customers/nobody/balance", "checkout"), ("/v1/customers/nobody/history", "admin")):
        response = platform.client.get(path, headers=platform.headers(who))
        assert response.status_code == 404
        assert response.json()["error"]["field"] == "customer_id"


def test_product_errors(platform: Platform) -> None:
    brand = platform.headers("brand")
    wrong_digit = platform.client.post("/v1/products", json={"gtin": "09506000134353", "name": "X"}, headers=brand)
    assert wrong_digit.status_code == 422
    assert wrong_digit.json()["error"]["field"] == "gtin"
    assert platform.client.get("/v1/products/96385074", headers=brand).status_code == 404
    duplicate = platform.client.post("/v1/products", json={"gtin": "09506000134352", "name": "X"}, headers=brand)
    assert duplicate.status_code == 409


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/01/09506000134353/21/SN0001", 400, "gtin"),
        ("/01/12/21/SN0001", 400, "gtin"),
        ("/01/09506000134352/21/%20", 400, "serial"),
    ],
)
def test_malformed_digital_links(platform: Platform, path: str, status: int, field: str) -> None:
    response = platform.client.get(path)
    assert response.status_code == status
    assert response.json()["error"]["field"] == field


def test_unknown_gtin_is_an_unknown_verdict(platform: Platform) -> None:
    body = platform.client.get("/01/96385074/21/SN0001").json()
    assert body["verdict"] == "unknown"
