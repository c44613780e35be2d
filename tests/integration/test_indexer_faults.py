"""The indexer under faults: a node that refuses wide log queries or goes away, two indexers at
once, logs that are not ours, a database that drops its connections. Always: retried, counted,
never a half-written mirror."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text
from sqlmodel import Session, func, select

from backend.db.models import ChainCursor, ChainEvent
from backend.indexer.decoder import LogDecoder
from backend.indexer.leader import Leadership
from backend.indexer.rpc import JsonRpc, RpcUnavailable
from backend.indexer.runner import CursorMoved, Indexer, StepResult
from tests.integration.test_indexer import balance, buy
from tests.support import FaultyNode, Platform

pytestmark = pytest.mark.chain


@pytest.fixture
def faulty_node(platform: Platform) -> Iterator[FaultyNode]:
    proxy = FaultyNode(platform.settings.resolved_rpc_url)
    yield proxy
    proxy.close()


def mirrored_block(engine: Engine) -> int:
    with Session(engine) as session:
        cursor = session.get(ChainCursor, "indexer")
        return cursor.block_number if cursor else 0


def event_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(ChainEvent)).one()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.02)


def send_purchases(platform: Platform, prefix: str, count: int) -> None:
    for n in range(count):
        buy(platform, f"{prefix}-{n}", customer=f"{prefix.lower()}{n}", amount="2")
        head = platform.ctx.w3.eth.block_number
        platform.sender.step()  # one block each
        # Anvil mines an accepted transaction a moment later: wait for the block.
        wait_for(lambda head=head: platform.ctx.w3.eth.block_number > head, timeout=10)


def test_the_range_shrinks_when_the_node_refuses_it_and_the_mirror_is_complete(
    platform: Platform, faulty_node: FaultyNode
) -> None:
    send_purchases(platform, "WIDE", 6)
    faulty_node.max_log_blocks = 3
    indexer = Indexer(platform.engine, platform.ctx, max_range=2000, rpc=JsonRpc(faulty_node.url))
    indexer.sync()
    assert faulty_node.refused > 0
    assert indexer.ceiling <= 5  # it learnt the node's limit and stays under it
    platform.indexer = indexer
    platform.assert_mirror_matches_chain()
    assert [balance(platform, f"wide{n}") for n in range(6)] == [2] * 6


def test_an_unreachable_node_is_retried_with_backoff_until_it_is_back(
    platform: Platform, faulty_node: FaultyNode
) -> None:
    send_purchases(platform, "DOWN", 2)
    faulty_node.down = True
    errors: list[Exception] = []
    before = metric("credance_indexer_errors_total", kind="rpc")
    indexer = Indexer(platform.engine, platform.ctx, rpc=JsonRpc(faulty_node.url, timeout=2))
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run, args=(stop, 0.01, errors.append), daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(errors) >= 3)
        assert all(isinstance(e, RpcUnavailable) for e in errors)
        faulty_node.down = False
        head = int(platform.ctx.w3.eth.block_number)
        wait_for(lambda: mirrored_block(platform.engine) >= head)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert metric("credance_indexer_errors_total", kind="rpc") - before >= 3
    platform.assert_mirror_matches_chain()


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_node_failing_mid_step_leaves_nothing_half_written(
    platform: Platform, faulty_node: FaultyNode, fail_at: int
) -> None:
    send_purchases(platform, f"HALF{fail_at}", 3)
    indexer = Indexer(platform.engine, platform.ctx, rpc=JsonRpc(faulty_node.url))
    before = (mirrored_block(platform.engine), event_count(platform.engine))

    class FailingRpc(JsonRpc):
        calls = 0

        def _post(self, payload: Any, timeout: float | None = None) -> Any:
            FailingRpc.calls += 1
            if FailingRpc.calls == fail_at:
                faulty_node.failures_left = 1  # this request gets an HTTP 503 from the node
            return super()._post(payload, timeout)

    indexer.rpc = FailingRpc(faulty_node.url)
    with pytest.raises(RpcUnavailable):
        indexer.step()
    assert (mirrored_block(platform.engine), event_count(platform.engine)) == before
    indexer.sync()
    platform.indexer = indexer
    platform.assert_mirror_matches_chain()


def test_two_indexers_racing_never_apply_a_range_twice(platform: Platform) -> None:
    send_purchases(platform, "RACE", 2)
    other = Indexer(platform.engine, platform.ctx)

    class Racing(Indexer):
        def _write(self, cursor: Any, *args: Any) -> None:
            other.sync()  # the other indexer writes the same range first
            super()._write(cursor, *args)

    racing = Racing(platform.engine, platform.ctx)
    with pytest.raises(CursorMoved):
        racing.step()
    assert racing.step() is None  # nothing left: the other one mirrored it, once
    platform.assert_mirror_matches_chain()
    assert [balance(platform, f"race{n}") for n in range(2)] == [2, 2]


def test_one_indexer_leads_and_a_standby_takes_over(platform: Platform) -> None:
    first, second = Leadership(platform.engine), Leadership(platform.engine)
    assert first.acquire()
    assert first.held
    assert not second.acquire()
    first.release()
    assert second.acquire()
    assert not first.acquire()
    second.release()


def test_a_standby_indexer_does_not_index(platform: Platform) -> None:
    leader = Leadership(platform.engine)
    assert leader.acquire()
    try:
        send_purchases(platform, "STANDBY", 1)
        standby = Indexer(platform.engine, platform.ctx)
        stop = threading.Event()
        steps: list[StepResult | None] = []
        original = standby.step

        def counting_step() -> StepResult | None:
            steps.append(result := original())
            return result

        standby.step = counting_step  # type: ignore[method-assign]
        thread = threading.Thread(target=standby.run, args=(stop, 0.01), daemon=True)
        thread.start()
        wait_for(lambda: metric("credance_indexer_leader") == 0.0)
        stop.set()
        thread.join(timeout=30)
        assert steps == []
    finally:
        leader.release()


def test_logs_of_a_contract_that_is_not_ours_are_skipped(platform: Platform) -> None:
    """A manifest naming the wrong address: the logs found there match none of its events."""
    points = platform.ctx.manifest.contracts["LoyaltyPoints"]
    registry = platform.ctx.manifest.contracts["ProvenanceRegistry"]
    indexer = Indexer(platform.engine, platform.ctx)
    indexer.decoder = LogDecoder({"ProvenanceRegistry": (points.address, registry.abi)})
    skipped_before = metric("credance_indexer_skipped_logs_total")
    events_before = event_count(platform.engine)
    send_purchases(platform, "WRONG", 1)  # Transfer + PointsAwarded at the points address
    result = indexer.step()
    assert result is not None
    assert (result.events, result.skipped) == (0, 2)
    assert metric("credance_indexer_skipped_logs_total") - skipped_before == 2
    assert event_count(platform.engine) == events_before
    assert mirrored_block(platform.engine) == result.to_block  # skipped, not stuck


@pytest.mark.postgres_only
def test_a_database_that_drops_its_connections_is_retried(platform: Platform) -> None:
    errors: list[Exception] = []
    stop = threading.Event()
    thread = threading.Thread(target=platform.indexer.run, args=(stop, 0.01, errors.append), daemon=True)
    thread.start()
    try:
        send_purchases(platform, "DROP", 1)
        with platform.engine.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        send_purchases(platform, "DROP2", 1)
        head = int(platform.ctx.w3.eth.block_number)
        wait_for(lambda: mirrored_block(platform.engine) >= head)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    platform.assert_mirror_matches_chain()
