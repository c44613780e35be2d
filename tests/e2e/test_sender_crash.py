"""Exactly once across crashes: the sender process is killed with SIGKILL at each point of its
write-ahead (after signing, after recording, after broadcasting), restarted, and every accepted
purchase is minted exactly once, on chain and in SQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlmodel import Session, col, select
from web3 import Web3
from web3.exceptions import TransactionNotFound

from backend.chain.outbox import TxStatus
from backend.chain.sender import KILL_AT_ENV
from backend.db.models import ChainTransaction, MirrorAccount, MirrorTokenState, Operation, OperationStatus
from backend.settings import PROJECT_ROOT
from tests.support import Platform

pytestmark = pytest.mark.chain


def accept(platform: Platform, count: int, prefix: str) -> list[int]:
    ids = []
    for n in range(count):
        body = {
            "order_id": f"{prefix}-{n}",
            "customer_id": f"crash-{n % 3}",
            "store_id": "demo-store",
            "currency": "USD",
            "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": str(10 + n)}],
        }
        response = platform.client.post("/v1/purchases", json=body, headers=platform.headers())
        assert response.status_code == 200, response.text
        ids.append(response.json()["operation_id"])
    return ids


def sender_process(platform: Platform, kill_at: str | None = None) -> subprocess.Popen[str]:
    s = platform.settings
    env = {
        **os.environ,
        "CREDANCE_NODE": s.node,
        "CREDANCE_HOME": str(s.home),
        "CREDANCE_CHAIN_PORT": str(s.chain_port),
        "CREDANCE_DEPLOYMENTS_DIR": str(s.deployments_dir),
        "CREDANCE_DATABASE_URL": s.resolved_database_url,
        "CREDANCE_SENDER_BATCH_SIZE": "4",
        "CREDANCE_SENDER_MAX_DELAY_MS": "0",
        "CREDANCE_SENDER_RECEIPT_TIMEOUT_S": "2",
    }
    env.pop(KILL_AT_ENV, None)
    if kill_at:
        env[KILL_AT_ENV] = kill_at
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli.main", "sender"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def issuer_transactions(platform: Platform) -> list[ChainTransaction]:
    with Session(platform.engine) as session:
        query = select(ChainTransaction).where(ChainTransaction.signer == "issuer")
        return list(session.exec(query.order_by(col(ChainTransaction.nonce))).all())


def statuses(platform: Platform, ids: list[int]) -> Counter[str]:
    with Session(platform.engine) as session:
        return Counter(session.exec(select(Operation.status).where(col(Operation.id).in_(ids))).all())


def run_until_confirmed(platform: Platform, ids: list[int], timeout: float = 60.0) -> None:
    """A fresh sender process (the restart) plus the indexer, until every award is confirmed."""
    process = sender_process(platform)
    try:
        deadline = time.monotonic() + timeout
        while statuses(platform, ids) != Counter({OperationStatus.CONFIRMED: len(ids)}):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, statuses(platform, ids)
            platform.indexer.sync()
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def assert_exactly_once(platform: Platform, ids: list[int], supply_before: int) -> None:
    points = platform.ctx.points.functions
    with Session(platform.engine) as session:
        ops = session.exec(select(Operation).where(col(Operation.id).in_(ids))).all()
        per_account: Counter[str] = Counter()
        for op in ops:
            assert points.isOperationApplied(op.id).call(), op.id
            per_account[op.account or ""] += op.amount
        for account, amount in per_account.items():
            assert points.balanceOf(Web3.to_checksum_address(account)).call() == amount
            mirrored = session.get(MirrorAccount, account)
            assert mirrored is not None
            assert mirrored.balance == amount
        state = session.get(MirrorTokenState, 1)
        total = sum(per_account.values())
        assert points.totalSupply().call() == supply_before + total
        assert state is not None
        assert state.total_supply == supply_before + total


@pytest.mark.nodes("ganache")
@pytest.mark.parametrize("point", ["signed", "recorded", "broadcast"])
def test_sender_killed_mid_batch_then_restarted_mints_each_award_once(platform: Platform, point: str) -> None:
    supply_before = platform.ctx.points.functions.totalSupply().call()
    ids = accept(platform, 10, prefix=f"K{point}")

    crashed = sender_process(platform, kill_at=point)
    output, _ = crashed.communicate(timeout=60)
    assert crashed.returncode == -signal.SIGKILL, output
    assert "sender.fault_injected" in output

    txs = issuer_transactions(platform)
    if point == "signed":  # killed inside the SQL transaction: nothing was recorded or sent
        assert txs == []
        assert statuses(platform, ids) == Counter({OperationStatus.PENDING: 10})
    else:  # recorded before the broadcast (write-ahead)
        assert [tx.status for tx in txs] == [TxStatus.BROADCAST] * len(txs)
        assert statuses(platform, ids)[OperationStatus.SENT] == 10
        first = txs[0].hash
        if point == "recorded":
            with pytest.raises(TransactionNotFound):
                platform.ctx.w3.eth.get_transaction(first)  # type: ignore[arg-type]
        else:
            assert platform.ctx.w3.eth.get_transaction_receipt(first)["status"] == 1  # type: ignore[arg-type]

    more = accept(platform, 5, prefix=f"A{point}")  # checkout goes on while the sender is down
    run_until_confirmed(platform, ids + more)
    assert_exactly_once(platform, ids + more, supply_before)
    live = [tx for tx in issuer_transactions(platform) if tx.status != TxStatus.DROPPED]
    assert len({tx.nonce for tx in live}) == len(live)
