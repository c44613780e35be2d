"""The emergency pause: while the token is paused nothing moves on chain, checkouts keep being
accepted, and their awards wait in the outbox; after unpause they are applied, once each."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from backend.chain.local_signer import LocalSigner
from backend.db.models import Operation, OperationStatus
from tests.contracts.helpers import send
from tests.support import Platform

# The database does not matter here: SQLite only, to keep make test short.
pytestmark = [pytest.mark.chain, pytest.mark.sqlite_only]


@pytest.mark.nodes("ganache", "hardhat")
def test_awards_wait_out_a_pause_and_apply_once_after(platform: Platform, dev_keys: list[str]) -> None:
    points = platform.ctx.points
    pauser = LocalSigner(platform.ctx.w3, dev_keys[0], 31337)
    send(pauser, points.functions.pause())
    client, headers = platform.client, platform.headers()
    for n in range(3):
        order = {
            "order_id": f"PZ-{n}",
            "customer_id": "paula",
            "store_id": "demo-store",
            "currency": "USD",
            "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": "10.00"}],
        }
        assert client.post("/v1/purchases", json=order, headers=headers).status_code == 200
    supply = points.functions.totalSupply().call()
    for _ in range(3):
        platform.sender.step()
        platform.indexer.sync()
    assert points.functions.totalSupply().call() == supply
    with Session(platform.engine) as session:
        awards = session.exec(select(Operation).where(Operation.kind == "award")).all()
    assert [op.status for op in awards] == [OperationStatus.PENDING] * 3, [(op.status, op.last_error) for op in awards]

    send(pauser, points.functions.unpause())
    platform.settle()
    balance = client.get("/v1/customers/paula/balance", headers=headers).json()
    assert (balance["balance"], balance["pending"]) == (30, 0)
    assert points.functions.totalSupply().call() == supply + 30
