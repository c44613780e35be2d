"""Exactly once under races: identical and conflicting purchases sent concurrently to a real
API server with two worker processes (each with its own group-commit writer), then minted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import Session, col, func, select
from web3 import Web3

from backend.db.models import Customer, Operation, Purchase
from backend.settings import PROJECT_ROOT
from tests.support import Platform, free_port

pytestmark = pytest.mark.chain


@pytest.fixture
def server(platform: Platform) -> Iterator[str]:
    """`credance serve --workers 2` on the platform's database."""
    port = free_port()
    env = {
        **os.environ,
        "CREDANCE_HOME": str(platform.settings.home),
        "CREDANCE_PORT": str(port),
        "CREDANCE_DATABASE_URL": platform.settings.resolved_database_url,
        "CREDANCE_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli.main", "serve", "--workers", "2"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=30)


def order(order_id: str, quantity: int = 2, customer: str = "racer") -> dict[str, object]:
    return {
        "order_id": order_id,
        "customer_id": customer,
        "store_id": "demo-store",
        "currency": "USD",
        "lines": [{"sku": "COFFEE", "quantity": quantity, "unit_price": "12.50"}],
    }


def fire(url: str, key: str, bodies: list[dict[str, object]]) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {key}"}

    def post(body: dict[str, object]) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            return client.post(f"{url}/v1/purchases", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(post, bodies))


def test_races_record_and_mint_each_order_once(platform: Platform, server: str) -> None:
    """One server start (slow on a busy machine) for the three races."""
    identical_requests_record_and_mint_one_purchase(platform, server)
    conflicting_requests_one_wins_the_others_get_409(platform, server)
    many_customers_enrolling_concurrently_each_get_one_address(platform, server)


def identical_requests_record_and_mint_one_purchase(platform: Platform, server: str) -> None:
    responses = fire(server, platform.keys["checkout"], [order("RACE-1")] * 40)
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1  # every answer is the first one
    assert Counter(r.headers.get("Idempotent-Replayed") for r in responses) == Counter({"true": 39, None: 1})
    platform.settle()
    with Session(platform.engine) as session:
        assert session.exec(select(func.count()).where(Purchase.order_id == "RACE-1")).one() == 1
        customer = session.exec(select(Customer).where(Customer.external_id == "racer")).one()
        assert session.exec(select(func.count()).where(Operation.account == customer.address)).one() == 1
    assert platform.ctx.points.functions.balanceOf(Web3.to_checksum_address(customer.address)).call() == 25


def conflicting_requests_one_wins_the_others_get_409(platform: Platform, server: str) -> None:
    bodies = [order("RACE-2", quantity=1 + n % 2) for n in range(40)]
    responses = fire(server, platform.keys["checkout"], bodies)
    assert {r.status_code for r in responses} <= {200, 409}
    winners = [r for r in responses if r.status_code == 200]
    assert len({r.content for r in winners}) == 1
    points = winners[0].json()["points_awarded"]
    # Every request with the winner's content got the winner's answer; every other one a 409.
    expected_200 = sum(1 for b in bodies if b["lines"][0]["quantity"] * 12.5 // 1 == points)  # type: ignore[index]
    assert len(winners) == expected_200
    assert all(r.json()["error"]["field"] == "order_id" for r in responses if r.status_code == 409)
    platform.settle()
    with Session(platform.engine) as session:
        assert session.exec(select(func.count()).where(Purchase.order_id == "RACE-2")).one() == 1
        op_id = session.exec(select(Purchase.operation_id).where(Purchase.order_id == "RACE-2")).one()
        assert platform.ctx.points.functions.isOperationApplied(op_id).call()


def many_customers_enrolling_concurrently_each_get_one_address(platform: Platform, server: str) -> None:
    bodies = [order(f"RACE-3-{n}", customer=f"newbie-{n % 8}") for n in range(64)]
    responses = fire(server, platform.keys["checkout"], bodies)
    assert {r.status_code for r in responses} == {200}
    platform.settle()
    with Session(platform.engine) as session:
        customers = session.exec(select(Customer).where(col(Customer.external_id).like("newbie-%"))).all()
        assert len(customers) == 8
        for customer in customers:
            balance = platform.ctx.points.functions.balanceOf(Web3.to_checksum_address(customer.address)).call()
            assert balance == 8 * 25
