"""The indexer on a real Anvil: checkpoint with the rows, resume after restart, reorg rollback."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from backend.db.models import ChainCursor, ChainEvent, MirrorAccount, Operation, OperationStatus
from backend.indexer.runner import Indexer
from tests.support import Platform, rpc

pytestmark = pytest.mark.chain


def buy(platform: Platform, order_id: str, customer: str = "ivy", amount: str = "10") -> None:
    body = {
        "order_id": order_id,
        "customer_id": customer,
        "store_id": "demo-store",
        "currency": "USD",
        "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": amount}],
    }
    assert platform.client.post("/v1/purchases", json=body, headers=platform.headers()).status_code == 200


def event_count(platform: Platform) -> int:
    with Session(platform.engine) as session:
        return session.exec(select(func.count()).select_from(ChainEvent)).one()


def balance(platform: Platform, customer: str = "ivy") -> int:
    return platform.client.get(f"/v1/customers/{customer}/balance", headers=platform.headers()).json()["balance"]


def test_a_restarted_indexer_resumes_from_its_checkpoint(platform: Platform) -> None:
    buy(platform, "I-1")
    platform.settle()
    events_before = event_count(platform)
    with Session(platform.engine) as session:
        cursor = session.get(ChainCursor, "indexer")
        assert cursor is not None
        head = cursor.block_number

    buy(platform, "I-2")
    platform.sender.step()
    restarted = Indexer(platform.engine, platform.ctx)
    assert restarted.sync() > head
    restarted.sync()
    assert event_count(platform) == events_before + 2  # Transfer + PointsAwarded, once
    assert balance(platform) == 20
    platform.assert_mirror_matches_chain()


def test_a_reorganisation_rolls_back_and_the_award_is_applied_again(platform: Platform) -> None:
    w3 = platform.ctx.w3
    fork_point = rpc(w3, "evm_snapshot")
    buy(platform, "R-1", amount="40")
    platform.settle()
    assert balance(platform) == 40

    rpc(w3, "evm_revert", fork_point)  # the award's block disappears...
    rpc(w3, "anvil_mine", "0x3")  # ...and another branch grows past it
    result = platform.indexer.step()
    assert result is not None
    assert result.reorged_to is not None
    assert balance(platform) == 0
    with Session(platform.engine) as session:
        op = session.exec(select(Operation).where(Operation.kind == "award")).one()
        assert op.status == OperationStatus.SENT
        account = session.exec(select(MirrorAccount).where(MirrorAccount.balance != 0)).all()
        assert account == []
    assert platform.reconcile().ok  # in between, the mirror is exactly the new branch

    platform.sender.recover()  # rebroadcasts the recorded transaction on the new branch
    platform.settle()
    assert balance(platform) == 40
    assert platform.ctx.points.functions.totalSupply().call() == 40
    platform.assert_mirror_matches_chain()
