"""`credance indexer` killed with SIGKILL in the middle of a backfill: whatever it had written is
exactly the chain up to its cursor, and once restarted it finishes with nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from eth_account import Account
from sqlmodel import Session, func, select

from backend.chain.local_signer import LocalSigner
from backend.db.models import ChainCursor, ChainEvent
from backend.settings import PROJECT_ROOT
from tests.support import Platform, award_load

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def cursor_block(platform: Platform) -> int:
    with Session(platform.engine) as session:
        cursor = session.get(ChainCursor, "indexer")
        return cursor.block_number if cursor else 0


def indexer_process(platform: Platform) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CREDANCE_DATABASE_URL": platform.settings.resolved_database_url,
        "CREDANCE_RPC_URL": platform.settings.resolved_rpc_url,
        "CREDANCE_DEPLOYMENTS_DIR": str(platform.settings.deployments_dir),
        "CREDANCE_HOME": str(platform.settings.home),
        "CREDANCE_INDEXER_MAX_RANGE": "1",  # one block per transaction: many commits to land between
        "CREDANCE_INDEXER_POLL_MS": "10",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli.main", "indexer"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition: object, process: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert process.poll() is None, "the indexer exited"
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_killed_indexer_leaves_a_consistent_mirror_and_resumes(platform: Platform, dev_keys: list[str]) -> None:
    issuer = LocalSigner(platform.ctx.w3, dev_keys[1], platform.ctx.chain_id)
    customers = [str(Account.create().address) for _ in range(40)]
    first_block = int(platform.ctx.w3.eth.block_number) + 1
    award_load(platform.ctx, issuer, customers, transactions=40, first_operation=10_000_000)
    head = int(platform.ctx.w3.eth.block_number)
    assert head - first_block >= 39  # one transaction per block (automine)

    process = indexer_process(platform)
    try:
        wait_for(lambda: cursor_block(platform) >= first_block + 3, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    stopped_at = cursor_block(platform)
    assert stopped_at < head  # killed in the middle of the backfill
    report = platform.reconcile()  # what it wrote is exactly the chain up to its cursor
    assert report.ok, [d.describe() for d in report.differences]
    assert report.block == stopped_at

    process = indexer_process(platform)
    try:
        wait_for(lambda: cursor_block(platform) >= head, process)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    report = platform.reconcile()
    assert report.ok, [d.describe() for d in report.differences]
    with Session(platform.engine) as session:
        awarded = session.exec(
            select(func.count()).select_from(ChainEvent).where(ChainEvent.name == "PointsAwarded")
        ).one()
    assert awarded >= 40 * 40
    points = platform.ctx.points.functions
    assert all(points.balanceOf(c).call() == 400 for c in customers[:3])
