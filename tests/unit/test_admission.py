"""Admission classes and the per-process budget (backend/api/admission.py, budget.py)."""

from __future__ import annotations

import asyncio

import pytest

from backend.api.admission import Gate
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
