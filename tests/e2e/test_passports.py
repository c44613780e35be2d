"""Item passports end to end on a real chain: a registered item is bought, its buyer claims its
passport, resells it to a second member, the passport shows two owners and the first owner can no
longer prove ownership. Every party that tries to act for someone else is refused with a 4xx
naming the field, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, func, select

from backend.db.models import Operation, PassportClaim
from backend.provenance.merkle import item_leaf
from tests.e2e.test_provenance_ownership import anchor_and_settle, item
from tests.provenance.support import FRESH, Api, at, commission, sgtin
from tests.support import Platform

pytestmark = pytest.mark.chain


def buy(api: Api, customer: str, order: str, serial: str) -> None:
    body = {
        "order_id": order,
        "customer_id": customer,
        "store_id": "demo-store",
        "currency": "USD",
        "lines": [{"sku": "CADDY", "quantity": 1, "unit_price": "10.00", "gtin": FRESH, "serial": serial}],
    }
    response = api.client.post("/v1/purchases", json=body, headers=api.headers("checkout"))
    assert response.status_code == 200, response.text


def written(platform: Platform) -> tuple[int, int]:
    with Session(platform.engine) as session:
        operations = session.exec(select(func.count()).select_from(Operation)).one()
        claims = session.exec(select(func.count()).select_from(PassportClaim)).one()
        return int(operations), int(claims)


def refused(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field, response.text


def test_claim_resell_and_prove_ownership(brand_goods: tuple[Platform, Api]) -> None:
    platform, api = brand_goods
    client = api.client
    for member in ("ann", "ben", "cat"):
        enrolled = client.post("/v1/customers", json={"customer_id": member}, headers=api.headers("admin"))
        assert enrolled.status_code in (200, 201), enrolled.text
    api.accept("demo-brand", commission([sgtin(FRESH, "SN0001"), sgtin(FRESH, "SN0002")], at(0)))
    anchor_and_settle(platform)
    buy(api, "ann", "P-1", "SN0001")
    platform.settle()
    ann, ben = platform.as_customer("ann"), platform.as_customer("ben")
    sold = {"claim_id": "c1", "gtin": FRESH, "serial": "SN0001"}

    before = written(platform)
    # Another member claims the item ann bought; a store's key and the brand's key try for ann;
    # ann's token without the passports scope; ann claims an item nobody bought.
    refused(client.post("/v1/customers/ben/passports", json=sold, headers=ben), 403, "customer_id")
    refused(client.post("/v1/customers/ann/passports", json=sold, headers=ben), 403, "customer_id")
    for key in ("checkout", "demo-brand", "admin"):
        response = client.post("/v1/customers/ann/passports", json=sold, headers=api.headers(key))
        assert response.status_code == 403, response.text
    read_only = platform.as_customer("ann", ["read"])
    assert client.post("/v1/customers/ann/passports", json=sold, headers=read_only).status_code == 403
    unsold = {**sold, "serial": "SN0002"}
    refused(client.post("/v1/customers/ann/passports", json=unsold, headers=ann), 409, "serial")
    refused(client.post("/v1/customers/ann/passports", json={**sold, "serial": "NOPE"}, headers=ann), 404, "serial")
    assert written(platform) == before

    claimed = client.post("/v1/customers/ann/passports", json=sold, headers=ann)
    assert claimed.status_code == 202, claimed.text
    token_id = claimed.json()["token_id"]
    bought = item(platform, FRESH, "SN0001")
    assert token_id == "0x" + item_leaf(int(FRESH), bytes.fromhex(bought.commitment[2:])).hex()  # no serial
    again = client.post("/v1/customers/ann/passports", json=sold, headers=ann)  # a retried claim: the same answer
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (202, claimed.json(), "true")
    other = {**sold, "claim_id": "c2"}
    refused(client.post("/v1/customers/ann/passports", json=other, headers=ann), 409, "serial")  # one, ever
    before = written(platform)
    refused(client.post("/v1/customers/ann/passports", json={**sold, "serial": "SN0002"}, headers=ann), 409, "claim_id")
    assert written(platform) == before  # the id with other content: nothing written, nothing queued
    # The line of a claimed passport is not refunded: the passport is its owner's now.
    take_back = {"refund_id": "r1", "lines": [{"sku": "CADDY", "quantity": 1}]}
    refused(
        client.post("/v1/purchases/P-1/refunds", json=take_back, headers=api.headers("checkout")), 409, "lines[0].sku"
    )
    assert client.get("/v1/customers/ann/passports", headers=ann).json()["pending"] == [token_id]
    platform.settle()

    mine = client.get("/v1/customers/ann/passports", headers=ann).json()
    assert [p["token_id"] for p in mine["passports"]] == [token_id]
    first = client.get(f"/v1/passports/{token_id}", headers=ann).json()
    assert (first["previous_owners"], first["proves_ownership"]) == (0, True)
    assert client.get(f"/v1/passports/{token_id}").json()["proves_ownership"] is None  # anonymous scan
    assert client.get(f"/v1/passports/{token_id}", headers=ben).json()["proves_ownership"] is False

    # ben tries to take it: with his own token on ann's passport, and with his token for ann.
    before = written(platform)
    transfer = f"/v1/customers/ben/passports/{token_id}/transfers"
    to_ben = {"transfer_id": "t1", "to_customer_id": "ben"}
    refused(client.post(transfer, json=to_ben, headers=ben), 403, "token_id")
    ann_transfer = f"/v1/customers/ann/passports/{token_id}/transfers"
    refused(client.post(ann_transfer, json=to_ben, headers=ben), 403, "customer_id")
    refused(client.post(ann_transfer, json={**to_ben, "to_customer_id": "ann"}, headers=ann), 422, "to_customer_id")
    assert client.post(ann_transfer, json=to_ben, headers=api.headers("admin")).status_code == 403
    assert written(platform) == before

    resold = client.post(ann_transfer, json=to_ben, headers=ann)
    assert resold.status_code == 202, resold.text
    again = client.post(ann_transfer, json=to_ben, headers=ann)  # a retried transfer: the same answer
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (202, resold.json(), "true")
    before = written(platform)
    refused(client.post(ann_transfer, json={**to_ben, "to_customer_id": "cat"}, headers=ann), 409, "transfer_id")
    refused(client.post(ann_transfer, json={**to_ben, "transfer_id": "t2"}, headers=ann), 409, "token_id")  # in flight
    assert written(platform) == before
    platform.settle()

    after = client.get(f"/v1/passports/{token_id}", headers=ben).json()
    assert (after["previous_owners"], after["proves_ownership"]) == (1, True)  # two owners in all
    assert after["held_since"] >= first["held_since"]
    assert client.get(f"/v1/passports/{token_id}", headers=ann).json()["proves_ownership"] is False
    assert client.get("/v1/customers/ann/passports", headers=ann).json()["passports"] == []
    assert [p["token_id"] for p in client.get("/v1/customers/ben/passports", headers=ben).json()["passports"]] == [
        token_id
    ]
    refused(client.post(ann_transfer, json={**to_ben, "transfer_id": "t3"}, headers=ann), 403, "token_id")
    assert platform.ctx.passports is not None
    holder = platform.ctx.passports.functions.ownerOf(int(token_id, 16)).call()
    assert holder == after["holder"]
    platform.assert_mirror_matches_chain()
