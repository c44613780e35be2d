"""A NUL character (U+0000) in any string of a request is refused with a 422 naming where it is.

PostgreSQL cannot store NUL in text or JSON (SQLite can), so such input must never reach the
database: it would be a 500 on one database and stored on the other."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from backend.db.models import Customer, CustomerProfile, Purchase
from tests.support import Platform

pytestmark = pytest.mark.chain

PURCHASE = {
    "order_id": "NUL-1",
    "customer_id": "nul",
    "store_id": "demo-store",
    "currency": "USD",
    "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": "4.00"}],
}


def purchases(platform: Platform) -> int:
    with Session(platform.engine) as session:
        return session.exec(select(func.count()).select_from(Purchase)).one()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": [{"sku": "COF\u0000FEE", "quantity": 1, "unit_price": "4.00"}]}, "lines[0].sku"),
        (
            {"lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": "4.00", "category": "\u0000"}]},
            "lines[0].category",
        ),
        ({"customer_id": "nul\u0000"}, "customer_id"),
    ],
)
def test_a_nul_in_the_body_is_refused_by_field(platform: Platform, change: dict, field: str) -> None:
    before = purchases(platform)
    response = platform.client.post("/v1/purchases", json={**PURCHASE, **change}, headers=platform.headers())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert purchases(platform) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer_id": "nul-profile", "email": "a\u0000@b"}, "email"),
        ({"customer_id": "nul-profile", "name": "Ann\u0000"}, "name"),
        ({"customer_id": "nul-profile", "na\u0000me": "Ann"}, "na\u0000me"),
    ],
)
def test_a_nul_in_any_body_field_is_refused(platform: Platform, body: dict, field: str) -> None:
    response = platform.client.post("/v1/customers", json=body, headers=platform.headers())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    with Session(platform.engine) as session:
        assert session.exec(select(Customer).where(Customer.external_id == "nul-profile")).first() is None


def test_an_escaped_backslash_before_u0000_is_not_a_nul(platform: Platform) -> None:
    raw = b'{"customer_id": "nul-lookalike", "name": "C:\\\\u0000"}'
    response = platform.client.post(
        "/v1/customers", content=raw, headers={**platform.headers(), "content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    with Session(platform.engine) as session:
        customer = session.exec(select(Customer).where(Customer.external_id == "nul-lookalike")).one()
        assert session.get(CustomerProfile, customer.id).name == "C:\\u0000"  # type: ignore[union-attr]


def test_a_nul_in_the_path_or_query_is_refused(platform: Platform) -> None:
    response = platform.client.get("/v1/purchases/A%00B", headers=platform.headers())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "path"
    response = platform.client.get("/v1/purchases/A-1?store_id=demo%00store", headers=platform.headers())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "store_id"


def test_a_nul_in_an_epcis_document_is_refused(platform: Platform) -> None:
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventTime": "2026-01-01T00:00:00Z",
                    "eventTimeZoneOffset": "+00:00",
                    "action": "OBSERVE",
                    "epcList": ["urn:epc:id:sgtin:9506000.013435.S\u0000N1"],
                }
            ]
        },
    }
    response = platform.client.post("/v1/epcis/capture", json=document, headers=platform.headers("brand"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "epcisBody.eventList[0].epcList[0]"


def test_a_nul_without_a_name_is_refused(platform: Platform) -> None:
    response = platform.client.get("/v1/purchases/A-1?=%00", headers=platform.headers())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "query"
    response = platform.client.post(
        "/v1/customers", content=b'"\\u0000"', headers={**platform.headers(), "content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "body"
