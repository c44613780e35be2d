"""Admission classes and the per-process budget (backend/api/admission.py, budget.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from backend.api.admission import Gate, LoopPressure
from backend.api.app import ROUTERS
from backend.api.budget import SESSION_CLASSES, WRITER_CONNECTIONS, Budget, ClassLimit, RouteClass
from backend.api.route_facts import RouteTable
from backend.settings import Settings

ROUTE_TABLE = RouteTable().load(route for router in ROUTERS for route in router.routes)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/healthz", RouteClass.HEALTH),
        ("GET", "/metrics", RouteClass.HEALTH),
        ("GET", "/readyz", RouteClass.HEALTH),
        ("POST", "/v1/purchases", RouteClass.CHECKOUT),
        ("GET", "/v1/customers/erin/balance", RouteClass.READS),
        ("GET", "/v1/customers/erin/history", RouteClass.READS),
        ("POST", "/v1/customers/erin/redemptions", RouteClass.OTHER),
        ("GET", "/v1/customers/erin/balance/extra", RouteClass.OTHER),
        ("GET", "/01/09506000134352/21/A1", RouteClass.PUBLIC),
        ("POST", "/v1/items", RouteClass.BULK),
        ("POST", "/v1/epcis/capture", RouteClass.BULK),
        ("GET", "/v1/rewards", RouteClass.OTHER),
        ("GET", "/v1/recalls/7/scope", RouteClass.PUBLIC),
        ("POST", "/v1/recalls", RouteClass.BULK),
        ("POST", "/v1/items/", RouteClass.BULK),
        ("GET", "/v1/items", RouteClass.OTHER),
        ("GET", "/me/", RouteClass.OTHER),
    ],
)
def test_every_request_has_one_class_from_its_method_and_path(method: str, path: str, expected: RouteClass) -> None:
    """Declared on the routes themselves (route_facts.py), read by method and path before routing."""
    assert ROUTE_TABLE.of(method, path).admission == expected


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("/healthz", True),
        ("/01/09506000134352/21/A1", True),
        ("/v1/recalls/7/scope", True),
        ("/v1/recalls", False),
        ("/v1/customers/erin/balance", False),
        ("/me/", False),
    ],
)
def test_public_routes_are_the_declared_ones(path: str, public: bool) -> None:
    assert ROUTE_TABLE.is_public(path) is public


def test_bulk_body_limits_follow_the_declared_class() -> None:
    assert ROUTE_TABLE.of("POST", "/v1/epcis/capture").bulk
    assert not ROUTE_TABLE.of("POST", "/v1/purchases").bulk


def test_the_pool_has_a_connection_for_every_holder_and_the_threads_match_the_session_classes() -> None:
    budget = Budget.from_settings(
        Settings(admit_public=5, admit_bulk=1, admit_other=3, admit_health=2, read_threads=4, lookup_threads=2)
    )
    assert budget.threads == sum(budget.limits[c].concurrency for c in SESSION_CLASSES) == 11
    assert budget.pool_size == 11 + 4 + 2 + WRITER_CONNECTIONS


def test_a_full_class_refuses_beyond_its_queue_and_hands_a_freed_slot_to_the_first_waiter() -> None:
    async def scenario() -> list[object]:
        gate = Gate(RouteClass.READS, ClassLimit(concurrency=1, queue=1, max_wait_s=60))
        assert await gate.enter()  # the one slot
        waiting = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        refused = await gate.enter()  # the queue (1) is full: refused at once
        gate.leave()  # the slot passes to the waiter, not back to the pool
        handed = await waiting
        return [refused, handed, gate.active, len(gate.waiters)]

    assert asyncio.run(scenario()) == [False, True, 1, 0]


def test_once_a_wait_runs_out_the_queue_closes_for_a_while_then_opens_again() -> None:
    async def scenario() -> list[object]:
        gate = Gate(RouteClass.CHECKOUT, ClassLimit(concurrency=1, queue=8, max_wait_s=0.001))
        assert await gate.enter()  # the one slot, never freed
        timed_out = await gate.enter()  # waits, and its wait runs out: the queue is standing
        closed = [gate.refuses_now(), await gate.enter(), len(gate.waiters)]  # refused without waiting
        gate.queue_closed_until = 0.0  # the closed spell is over
        reopened = gate.refuses_now()
        waiting = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        queued = len(gate.waiters)
        gate.leave()  # the slot passes to the new waiter
        return [timed_out, *closed, reopened, queued, await waiting]

    assert asyncio.run(scenario()) == [False, True, False, 0, False, 1, True]


def _full(name: RouteClass, concurrency: int = 64) -> Gate:
    gate = Gate(name, ClassLimit(concurrency=concurrency, queue=concurrency, max_wait_s=60))
    gate.active = concurrency
    gate.contended = True  # a request found no free slot
    return gate


def test_a_late_loop_shrinks_only_the_classes_that_are_full_and_gives_their_slots_back_once_it_keeps_up() -> None:
    checkout, reads = _full(RouteClass.CHECKOUT), Gate(RouteClass.READS, ClassLimit(64, 64, 0.02))
    pressure = LoopPressure([checkout, reads], lag_limit_s=0.025)
    pressure.judge(0.100)  # the loop ran 100 ms late while checkouts were refused
    assert (checkout.capacity, reads.capacity) == (32, 64)  # reads, not full, keep every slot
    for _ in range(10):  # still late, still full
        checkout.contended = True
        pressure.judge(0.100)
    assert checkout.capacity == 1  # never below one slot
    assert checkout.scale == LoopPressure.MIN_SCALE
    pressure.judge(0.020)  # between half the limit and the limit: hold
    assert checkout.scale == LoopPressure.MIN_SCALE
    looks = 0
    while checkout.scale < 1.0:  # the loop keeps up: 5 % of the slots back per look
        pressure.judge(0.001)
        looks += 1
    assert (checkout.capacity, looks) == (64, 20)


def test_a_class_shrunk_under_pressure_refuses_at_once_and_frees_slots_beyond_its_capacity() -> None:
    async def scenario() -> list[object]:
        gate = Gate(RouteClass.CHECKOUT, ClassLimit(concurrency=4, queue=4, max_wait_s=60))
        for _ in range(4):
            assert await gate.enter()
        waiting = asyncio.create_task(gate.enter())  # queued while the class is not shed
        await asyncio.sleep(0)
        gate.scale = 0.5  # the pressure halved the class: capacity 2, 4 in flight
        refused_at_once = await asyncio.wait_for(gate.enter(), timeout=5)  # no waiting under pressure
        gate.leave()  # 4 in flight > 2: the slot is freed, not handed to the waiter
        handed_early = waiting.done()
        gate.leave()
        gate.leave()  # now 2 in flight: this slot goes to the waiter (the class stays at its capacity)
        handed = await waiting
        return [refused_at_once, handed_early, handed, gate.active]

    assert asyncio.run(scenario()) == [False, False, True, 2]


def test_the_pressure_measures_a_blocked_event_loop_and_sheds_the_full_class() -> None:
    async def scenario() -> tuple[float, float]:
        checkout = _full(RouteClass.CHECKOUT)
        pressure = LoopPressure([checkout], lag_limit_s=0.025, interval_s=0.005)
        pressure.seen()  # a request arrived: the pressure looks at this loop
        time.sleep(0.2)  # something holds the loop (CPU starvation looks the same from inside)
        await asyncio.sleep(0.05)  # the late look runs
        return pressure.lag_s, checkout.scale

    lag, scale = asyncio.run(scenario())
    assert scale < 1.0, lag  # shed once the loop ran late while the class was full


def test_no_lag_limit_means_no_pressure() -> None:
    async def scenario() -> float:
        checkout = _full(RouteClass.CHECKOUT)
        pressure = LoopPressure([checkout], lag_limit_s=0)
        pressure.seen()
        time.sleep(0.05)
        await asyncio.sleep(0.02)
        return checkout.scale

    assert asyncio.run(scenario()) == 1.0
