"""HTTP → chain → indexer → SQL → HTTP, on a real Anvil."""

from __future__ import annotations

import pytest

from tests.support import Platform

pytestmark = pytest.mark.chain


def purchase(order_id: str, customer: str = "alice", **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "order_id": order_id,
        "customer_id": customer,
        "store_id": "demo-store",
        "currency": "USD",
        "lines": [{"sku": "COFFEE", "quantity": 2, "unit_price": "12.50"}],
    }
    body.update(overrides)
    return body


@pytest.mark.nodes("ganache", "hardhat")
def test_purchase_is_minted_mirrored_and_shown(platform: Platform) -> None:
    client, headers = platform.client, platform.headers()

    accepted = client.post("/v1/purchases", json=purchase("A-1"), headers=headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["points_awarded"] == 25
    assert accepted.json()["status"] == "pending"

    before = client.get("/v1/customers/alice/balance", headers=headers).json()
    assert (before["balance"], before["pending"]) == (0, 25)

    platform.settle()

    after = client.get("/v1/customers/alice/balance", headers=headers).json()
    assert (after["balance"], after["pending"], after["debt"]) == (25, 0, 0)
    assert after["as_of_block"] >= 1
    assert platform.ctx.points.functions.balanceOf(after["address"]).call() == 25

    history = client.get("/v1/customers/alice/history", headers=platform.as_customer("alice")).json()
    assert [(e["kind"], e["amount"], e["status"]) for e in history["entries"]] == [("award", 25, "confirmed")]
    status = client.get("/v1/purchases/A-1", params={"store_id": "demo-store"}, headers=headers).json()
    assert status["status"] == "confirmed"
    platform.assert_mirror_matches_chain()


def test_replay_returns_first_answer_and_awards_once(platform: Platform) -> None:
    client, headers = platform.client, platform.headers()
    first = client.post("/v1/purchases", json=purchase("A-2"), headers=headers)
    again = client.post("/v1/purchases", json=purchase("A-2"), headers=headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"

    conflicting = client.post(
        "/v1/purchases", json=purchase("A-2", lines=[{"sku": "TEA", "quantity": 1, "unit_price": "3"}]), headers=headers
    )
    assert conflicting.status_code == 409
    assert conflicting.json()["error"]["field"] == "order_id"

    platform.settle()
    balance = client.get("/v1/customers/alice/balance", headers=headers).json()
    assert balance["balance"] == 25
    platform.assert_mirror_matches_chain()


@pytest.mark.nodes("ganache", "hardhat")
def test_verification_of_registered_item_carries_a_checkable_proof(platform: Platform) -> None:
    response = platform.client.get("/01/09506000134352/21/SN0001")
    assert response.status_code == 200
    body = response.json()
    assert body["verdict"] == "authentic"
    proof = body["proof"]
    assert proof["contract"] == platform.ctx.registry.address
    onchain = platform.ctx.registry.functions.isItemRegistered(
        proof["gtin"],
        bytes.fromhex(proof["commitment"][2:]),
        bytes.fromhex(proof["root"][2:]),
        [bytes.fromhex(node[2:]) for node in proof["merkle_proof"]],
    ).call()
    assert onchain is True

    unknown = platform.client.get("/01/09506000134352/21/NOPE").json()
    assert unknown["verdict"] == "unknown"
    platform.assert_mirror_matches_chain()
