"""Admission control: each class of route has its own slots, so an overload of one class is
refused quickly (503 with ``Retry-After``) instead of queueing without end, and never takes the
capacity of another class or of ``/healthz``.

The outermost layer after the metrics (``HttpMetrics``): a refusal costs a dictionary look-up
and one small answer, less than any work it spares. Per class (``backend/api/budget.py``): at
most ``concurrency`` requests in flight; beyond that up to ``queue`` requests wait, first come
first served, at most ``max_wait_s``; the rest are refused at once. A waiting request gets its
slot from the request that leaves (no thundering herd).

Public verification answers taken by the fast path (``verification_fast.py``) hold no thread and
no connection while they wait: their scan is recorded by a group-commit writer. They are
admitted by a gate of their own (``CREDANCE_ADMIT_PUBLIC_FAST``, bounding latency and memory, as
the checkout's cap does), not by the public class's slots, which stand for threads and
connections: the fast path takes one of those only for what needs one (a cache build in a
worker thread, or a request it hands to the route).

``GET /healthz`` is answered here, before any limit, rate or framework: liveness must not
depend on how busy the routes are. The route in ``routers/health.py`` gives the same answer
(it documents the endpoint, and serves it when this layer is not installed).

Under ``credance serve`` most of this happens even earlier: the HTTP protocol
(``http_protocol.py``) asks :meth:`Admission.early_answer` as soon as a request's head is parsed,
and writes ``/healthz`` and the refusal of a full class itself, without a task, a framework or a
middleware chain (an overload is mostly refusals; each then costs a few microseconds). What it
does not answer comes here, where the same decisions are taken again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

import orjson

from backend.api.budget import Budget, ClassLimit, RouteClass
from backend.api.headers import secured, with_security_headers
from backend.api.route_facts import RouteTable
from backend.api.security import ASGIApp, Receive, Scope, Send, respond
from backend.observability import ADMISSION_REFUSED, observe_request

HEALTHZ_BODY = orjson.dumps({"status": "ok"})
HEALTHZ_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(HEALTHZ_BODY)).encode())]

# An answer written by the HTTP protocol itself: its status, and what follows the status line
# and the server's own headers (the rest of the headers, the blank line, the body).
PreparedAnswer = tuple[int, bytes]


class Gate:
    """The slots of one class. Used from one event loop only (one per process): no lock.

    ``scale`` (1 when the process keeps up) shrinks the slots while the event loop runs late
    and this class is full (``LoopPressure``); below 1, a request that finds no free slot is
    refused at once instead of waiting.

    A queue absorbs a burst; under a lasting overload it only delays each refusal by the whole
    wait, and every waiter costs the event loop a task until then. So when a waiter's wait runs
    out (the queue did not drain in ``max_wait_s``), the queue is closed for ``QUEUE_CLOSED_S``:
    a request that finds no free slot meanwhile is refused at once — by the HTTP protocol
    itself, without reaching the application (``http_protocol.py``). Then waiting is tried again.
    (The idea of CoDel's "standing queue", applied to admission.)
    """

    QUEUE_CLOSED_S = 0.1

    __slots__ = ("active", "contended", "limit", "name", "queue_closed_until", "refused", "scale", "waiters")

    def __init__(self, name: RouteClass, limit: ClassLimit) -> None:
        self.name = name
        self.limit = limit
        self.active = 0
        self.waiters: deque[asyncio.Future[bool]] = deque()
        self.refused = 0
        self.scale = 1.0
        self.contended = False  # a request found no free slot since the pressure's last look
        self.queue_closed_until = 0.0  # time.monotonic() until which nobody may wait

    @property
    def capacity(self) -> int:
        """Slots now: the configured ones, scaled down under pressure, never below one."""
        return max(1, int(self.limit.concurrency * self.scale))

    def admits_now(self) -> bool:
        """A slot is free and nobody waits for one."""
        return self.active < self.capacity and not self.waiters

    def refuses_now(self) -> bool:
        """No slot is free (``admits_now`` said so) and a request may not wait for one."""
        return (
            len(self.waiters) >= self.limit.queue
            or self.limit.max_wait_s <= 0
            or self.scale < 1.0
            or time.monotonic() < self.queue_closed_until
        )

    async def enter(self) -> bool:
        """Take a slot (True), or False once the class is full and the wait is over."""
        if self.admits_now():
            self.active += 1
            return True
        self.contended = True
        if self.refuses_now():
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self.waiters.append(waiter)
        timer = loop.call_later(self.limit.max_wait_s, self._expire, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.leave()  # the slot was handed over as the client went away: pass it on
            raise
        finally:
            timer.cancel()
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):  # still queued: it timed out or was cancelled
                self.waiters.remove(waiter)

    def _expire(self, waiter: asyncio.Future[bool]) -> None:
        if not waiter.done():
            waiter.set_result(False)
            self.queue_closed_until = time.monotonic() + self.QUEUE_CLOSED_S

    def leave(self) -> None:
        """Give the slot to the first request still waiting, else free it. A slot beyond the
        capacity (it shrank under pressure) is freed, not handed over."""
        while self.waiters and self.active <= self.capacity:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self.active -= 1


class LoopPressure:
    """Sheds the classes that are full while the event loop runs late (additive increase,
    multiplicative decrease of their slots).

    A class's cap bounds what it holds, not the CPU its work costs: purchases admitted at the
    cap still cost the API, the sender, the indexer and the chain their CPU, and when the
    offered load is beyond what the machine can do, every answer — refusals and ``/healthz``
    included — waits behind them in the event loop. The loop's lag (how late a timer set every
    ``interval_s`` fires) measures that wait. While it is above ``lag_limit_s``, each class
    that found no free slot since the last look halves its slots (to at most 1/64 of them) and
    refuses at once instead of queueing; while the lag is below half the limit, every class
    gets 5 % of its slots back per look (from 1/64 to all of them in about 0.2 s). A class
    that is not full is never shed: an overload of one class does not take another's work.
    """

    MIN_SCALE = 1 / 64
    STEP = 0.05

    def __init__(self, gates: list[Gate], lag_limit_s: float, interval_s: float = 0.01) -> None:
        self.gates = gates
        self.lag_limit_s = lag_limit_s
        self.interval_s = interval_s
        self.lag_s = 0.0  # the last look's lag (diagnostics, tests)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = 0.0
        self._last_request = 0.0

    def seen(self) -> None:
        """A request arrived: look at the loop every ``interval_s`` while requests keep coming."""
        if self.lag_limit_s <= 0:
            return
        loop = asyncio.get_running_loop()
        self._last_request = loop.time()
        if self._loop is not loop:  # not watching this loop yet (or stopped watching while idle)
            self._loop = loop
            self._due = loop.time() + self.interval_s
            loop.call_at(self._due, self._look)

    def _look(self) -> None:
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        self.lag_s = now - self._due
        self.judge(self.lag_s)
        if now - self._last_request > 1.0 and all(gate.scale == 1.0 for gate in self.gates):
            self._loop = None  # idle: stop looking until the next request
            return
        self._due = now + self.interval_s
        loop.call_at(self._due, self._look)

    def judge(self, lag_s: float) -> None:
        """One look: shrink the full classes if the loop is late, else give slots back."""
        if lag_s > self.lag_limit_s:
            for gate in self.gates:
                if gate.contended:
                    gate.scale = max(self.MIN_SCALE, gate.scale / 2)
        elif lag_s < self.lag_limit_s / 2:
            for gate in self.gates:
                if gate.scale < 1.0:
                    gate.scale = min(1.0, gate.scale + self.STEP)
        for gate in self.gates:
            gate.contended = False


class Gates:
    """The gates of one process: one per class, and the public fast path's."""

    def __init__(self, budget: Budget) -> None:
        self.retry_after_s = budget.retry_after_s
        self.refusals = {name: _refusal(name, budget.retry_after_s) for name in RouteClass}  # built once
        # The labelled counters, looked up once: ``labels()`` costs more than the increment.
        self._refused_counters = {name: ADMISSION_REFUSED.labels(name.value) for name in RouteClass}
        self.by_class = {name: Gate(name, limit) for name, limit in budget.limits.items()}
        self.public_fast = Gate(RouteClass.PUBLIC, budget.public_fast)
        shed = [gate for name, gate in self.by_class.items() if name is not RouteClass.HEALTH]
        self.pressure = LoopPressure([*shed, self.public_fast], budget.loop_lag_s)

    @property
    def public(self) -> Gate:
        """The public class's slots: public requests holding a thread or a connection."""
        return self.by_class[RouteClass.PUBLIC]

    async def refuse(self, gate: Gate, scope: Scope, send: Send) -> None:
        """The 503 of a full class (``send`` already adds the security headers)."""
        self.count_refusal(gate)
        scope["route"] = _REFUSED_ROUTES[gate.name]
        status, body, headers = self.refusals[gate.name]
        await respond(send, status, body, list(headers))

    def count_refusal(self, gate: Gate) -> None:
        gate.refused += 1
        self._refused_counters[gate.name].inc()


class Overloaded(Exception):
    """No slot came free in time for work that needs a thread (answered 503 like a full class)."""

    def __init__(self, gate: Gate) -> None:
        super().__init__(f"{gate.name.value} is at capacity")
        self.gate = gate


ADMITTED_BY = "credance.admitted_by"  # the scope key naming the gate a request was admitted by


def _refusal(name: RouteClass, retry_after_s: int) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    body = orjson.dumps(
        {
            "error": {
                "code": "overloaded",
                "field": "request",
                "route_class": name.value,
                "message": f"the API is at capacity for {name.value} requests; retry after {retry_after_s} s",
            }
        }
    )
    return (
        503,
        body,
        [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry_after_s).encode()),
        ],
    )


def prepared(status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> PreparedAnswer:
    """An answer the HTTP protocol can write as it is, with the headers every answer gets."""
    lines = b"".join(name + b": " + value + b"\r\n" for name, value in secured(list(headers)))
    return status, lines + b"\r\n" + body


class Admission:
    """Which gate a request goes through, and what is answered before any framework runs."""

    def __init__(self, gates: Gates, routes: RouteTable, fast_public: Callable[[Scope], bool] | None) -> None:
        self.gates = gates
        self.routes = routes  # each route's class, declared on the route (route_facts.py)
        self.fast_public = fast_public  # a public request the fast path answers without a thread
        self._healthz = prepared(200, HEALTHZ_BODY, list(HEALTHZ_HEADERS))
        self._refusals = {name: prepared(*refusal) for name, refusal in gates.refusals.items()}

    def gate_for(self, scope: Scope) -> Gate:
        gate = self.gates.by_class[self.routes.of_request(scope).admission]
        if gate.name is RouteClass.PUBLIC and self.fast_public is not None and self.fast_public(scope):
            return self.gates.public_fast
        return gate

    def early_answer(self, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> PreparedAnswer | None:
        """The whole answer to a request that needs no application: ``GET /healthz``, or the
        refusal of a request whose class is full and may not queue. None: the request goes to
        the application (where a full class may still refuse it once its wait is over)."""
        began = time.perf_counter()
        if path == "/healthz" and method == "GET":
            observe_request(method, HEALTHZ_ROUTE.path, 200, time.perf_counter() - began)
            return self._healthz
        self.gates.pressure.seen()
        gate = self.gate_for({"type": "http", "method": method, "path": path, "headers": headers})
        if gate.admits_now():
            return None
        gate.contended = True
        if not gate.refuses_now():
            return None
        self.gates.count_refusal(gate)
        observe_request(method, _REFUSED_ROUTES[gate.name].path, 503, time.perf_counter() - began)
        return self._refusals[gate.name]


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self.app = app
        self.admission = admission
        self.gates = admission.gates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/healthz" and scope["method"] == "GET":
            scope["route"] = HEALTHZ_ROUTE
            await respond(with_security_headers(send), 200, HEALTHZ_BODY, list(HEALTHZ_HEADERS))
            return
        self.gates.pressure.seen()
        gate = self.admission.gate_for(scope)
        if not await gate.enter():
            await self.gates.refuse(gate, scope, with_security_headers(send))
            return
        scope[ADMITTED_BY] = gate
        try:
            await self.app(scope, receive, send)
        finally:
            gate.leave()


class _Label:
    """What ``HttpMetrics`` reads from ``scope["route"]`` (a template, never a raw path)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


HEALTHZ_ROUTE = _Label("/healthz")
_REFUSED_ROUTES = {name: _Label(f"(refused: {name.value})") for name in RouteClass}
