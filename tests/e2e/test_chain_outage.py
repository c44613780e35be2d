"""The chain goes down while the sender is sending, checkout keeps accepting, the chain comes
back, and every accepted purchase ends up minted exactly once. (Losing the newest blocks, as a
node restored from an older state does, is covered by the reorganisation test of the sender.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from backend.chain.anvil import start_anvil, stop_anvil
from backend.chain.bootstrap import ensure_deployment
from backend.chain.sender import Sender
from backend.cli.seed import seed_demo
from backend.db.engine import make_engine
from backend.db.models import ChainTransaction, Operation, OperationStatus
from backend.settings import PROJECT_ROOT, Settings
from tests.e2e.test_sender_crash import accept, assert_exactly_once, statuses
from tests.support import Platform, copy_database, free_port, make_platform

pytestmark = [pytest.mark.chain, pytest.mark.slow]


@pytest.fixture
def own_chain(tmp_path: Path, migrated_template: Path) -> Iterator[tuple[Settings, Engine]]:
    """An Anvil of this test alone (it gets stopped), keeping its chain in a state file."""
    settings = Settings(
        home=tmp_path / "home",
        chain_port=free_port(),
        deployments_dir=tmp_path / "deployments",
        database_url=f"sqlite:///{tmp_path / 'credance.db'}",
        sender_max_delay_ms=0,
        sender_batch_size=4,
    )
    start_anvil(settings.resolved_home, settings.chain_port, PROJECT_ROOT / "node_modules", state_interval=1)
    copy_database(migrated_template, tmp_path / "credance.db")
    engine = make_engine(settings.resolved_database_url)
    try:
        ensure_deployment(settings, force=True)
        yield settings, engine
    finally:
        engine.dispose()
        stop_anvil(settings.resolved_home)


def in_flight(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).where(col(Operation.status).in_([OperationStatus.PENDING, OperationStatus.SENT]))
        ).one()


def debug(engine: Engine, platform: Platform) -> str:
    with Session(engine) as session:
        ops = session.exec(select(Operation).where(col(Operation.status).in_(["pending", "sent"]))).all()
        txs = session.exec(select(ChainTransaction).where(ChainTransaction.signer == "issuer")).all()
    points = platform.ctx.points.functions
    lines = [f"op {op.id} {op.status} {op.tx_hash} applied={points.isOperationApplied(op.id).call()}" for op in ops]
    lines += [f"tx {tx.hash} n={tx.nonce} {tx.status} block={tx.mined_block} err={tx.error}" for tx in txs]
    w3 = platform.ctx.w3
    lines.append(f"chain nonce {w3.eth.get_transaction_count(txs[0].sender)} head {w3.eth.block_number}")
    return "\n".join(lines)


def recorded(engine: Engine) -> int:
    """Award transactions recorded so far (the demo seeding has its own)."""
    with Session(engine) as session:
        return session.exec(select(func.count()).where(ChainTransaction.signer == "issuer")).one()


def test_chain_down_and_back_up_while_sending(own_chain: tuple[Settings, Engine]) -> None:
    settings, engine = own_chain
    keys = seed_demo(engine, settings, 31337)
    platform: Platform = make_platform(settings, engine, {"checkout": keys.checkout})
    platform.settle()
    supply_before = platform.ctx.points.functions.totalSupply().call()
    sender = Sender(engine, platform.ctx, platform.sender.signers, batch_size=4, max_delay_ms=0, receipt_timeout=2)

    ids = accept(platform, 24, prefix="before")
    stop = threading.Event()
    threads = [
        threading.Thread(target=sender.run, args=(stop, 0.02)),
        threading.Thread(target=platform.indexer.run, args=(stop, 0.05)),
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while recorded(engine) < 2 and time.monotonic() < deadline:  # mid-way through sending
            time.sleep(0.01)
        # The chain's mempool is lost with it: the transactions in flight must be rebroadcast.
        stop_anvil(settings.resolved_home)
        ids += accept(platform, 12, prefix="during")  # checkout does not need the chain
        time.sleep(1.5)  # the sender and the indexer fail and back off
        start_anvil(settings.resolved_home, settings.chain_port, PROJECT_ROOT / "node_modules", state_interval=1)
        ids += accept(platform, 8, prefix="after")
        deadline = time.monotonic() + 90
        while statuses(platform, ids).get(OperationStatus.CONFIRMED, 0) < len(ids):
            assert time.monotonic() < deadline, debug(engine, platform)
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    with Session(engine) as session:
        stuck = session.exec(select(Operation).where(col(Operation.status).in_(["pending", "sent"]))).all()
    assert [(op.id, op.kind, op.status, op.last_error) for op in stuck] == []
    assert_exactly_once(platform, ids, supply_before)
