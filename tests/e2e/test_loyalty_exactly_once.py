"""Exactly once under replays and races: identical requests fired at the same moment from many
threads at a real HTTP server (uvicorn) award, reverse or burn once, in SQL and on chain."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import Session, col, func, select

from backend.db.models import Operation, OperationStatus, Purchase, Refund
from tests.e2e.loyalty_helpers import add_reward, assert_books_match_chain, balance, buy, line, on_chain, order
from tests.support import Platform, free_port

pytestmark = pytest.mark.chain
THREADS = 8


@pytest.fixture
def server(platform: Platform) -> Iterator[str]:
    """The platform's app behind a real uvicorn, so requests really run concurrently."""
    port = free_port()
    app = platform.client.app
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    while not instance.started:
        thread.join(0.01)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join()


def fire(url: str, headers: dict[str, str], bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Send every body at once (a barrier releases all threads together)."""
    barrier = threading.Barrier(len(bodies))

    def send(body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return client.post(url, json=body, headers=headers)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def count(platform: Platform, model: type, *where: Any) -> int:
    with Session(platform.engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def test_identical_purchases_racing_award_once(platform: Platform, server: str) -> None:
    body = order("RACE-1", "pat", line("A", 1, "42.00"))
    responses = fire(f"{server}/v1/purchases", platform.headers(), [body] * THREADS)
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1  # everyone gets the first answer
    assert Counter(r.headers.get("Idempotent-Replayed") for r in responses) == {"true": THREADS - 1, None: 1}
    assert count(platform, Purchase) == 1
    assert count(platform, Operation, Operation.kind == "award") == 1
    platform.settle()
    assert on_chain(platform, balance(platform, "pat")["address"]) == (42, 0)
    assert_books_match_chain(platform, "pat")


def test_conflicting_purchases_racing_keep_the_first(platform: Platform, server: str) -> None:
    bodies = [order("RACE-2", "quinn", line("A", 1, f"{10 + n}.00")) for n in range(THREADS)]
    responses = fire(f"{server}/v1/purchases", platform.headers(), bodies)
    assert sorted(r.status_code for r in responses) == [200] + [409] * (THREADS - 1)
    assert all(r.json()["error"]["field"] == "order_id" for r in responses if r.status_code == 409)
    assert count(platform, Operation, Operation.kind == "award") == 1


def test_replayed_refunds_racing_reverse_once(platform: Platform, server: str) -> None:
    buy(platform, order("RACE-3", "rita", line("A", 4, "25.00")))
    platform.settle()
    body = {"refund_id": "back-1", "lines": [{"sku": "A", "quantity": 1}]}
    responses = fire(f"{server}/v1/purchases/RACE-3/refunds", platform.headers(), [body] * THREADS)
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["points_reversed"] for r in responses} == {25}
    assert count(platform, Refund) == 1
    assert count(platform, Operation, Operation.kind == "reverse") == 1
    platform.settle()
    assert balance(platform, "rita")["balance"] == 75


def test_racing_redemptions_never_overspend(platform: Platform, server: str) -> None:
    buy(platform, order("RACE-4", "sam", line("A", 1, "100.00")))
    platform.settle()
    add_reward(platform, "sticker", 30)
    bodies = [{"redemption_id": f"s{n}", "reward_id": "sticker"} for n in range(THREADS)]
    responses = fire(f"{server}/v1/customers/sam/redemptions", platform.as_customer("sam"), bodies)
    assert sorted(r.status_code for r in responses) == [200] * 3 + [422] * (THREADS - 3)
    platform.settle()
    with Session(platform.engine) as session:
        failed = session.exec(select(Operation).where(col(Operation.status) == OperationStatus.FAILED)).all()
    assert failed == []
    assert balance(platform, "sam")["balance"] == 10
    assert_books_match_chain(platform, "sam")
