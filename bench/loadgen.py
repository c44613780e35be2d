"""A lean HTTP/1.1 load generator: keep-alive connections driven by callbacks (asyncio protocols,
uvloop when installed), spread over several processes so the client does not starve the server.

Two disciplines:

* **Closed loop** (``run_load``, ``run_requests``): each connection sends its next request when
  the previous answer is in (wrk-style). Throughput at a given concurrency.
* **Constant rate** (``run_rate``): requests are *scheduled* at a fixed rate, whatever the
  server does (wrk2-style); a connection that is still busy sends its next request late, and the
  latency is counted from when the request was *due*, not when it was sent, so a stalled server
  cannot hide its stall by slowing the client down (coordinated omission corrected). Used for
  mixed workloads (several rates at once) and overload.

Every request is timed; requests come from picklable factories so each can be unique (order
ids, customers). Loopback only: the target is always 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

# (connection number across all processes, sequence number on it) -> JSON body bytes
BodyFactory = Callable[[int, int], bytes]
# (connection or process number, sequence number) -> a whole HTTP/1.1 request
RequestFactory = Callable[[int, int], bytes]


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    started: float = 0.0
    finished: float = 0.0
    refused_latencies: list[float] = field(default_factory=list)  # seconds, 429/503 answers
    # Constant rate: seconds from when a refused request was *sent* (not due) to its answer — how
    # fast the server refuses, whether or not the client had a free connection when it was due.
    refused_service: list[float] = field(default_factory=list)
    accepted: list[tuple[int, int]] = field(default_factory=list)  # (process, sequence) answered 200
    late: int = 0  # constant rate: requests sent after they were due (every connection was busy)
    retry_after_missing: int = 0  # 429/503 answers without a Retry-After header
    unanswered: int = 0  # requests still without an answer GRACE_S after the load ended


GRACE_S = 60.0  # how long after the load's end answers are still awaited (then: unanswered)


def get_request(path: str, headers: dict[str, str]) -> bytes:
    """A GET request (bytes), the same every time."""
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode()


def post_request(path: str, headers: bytes, body: bytes) -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n%s\r\n%s" % (
        path.encode(),
        len(body),
        headers,
        body,
    )


class _Connection(asyncio.Protocol):
    """One keep-alive connection, driven by callbacks: a request is written, its answer is parsed
    from the bytes as they arrive (the head searched, not read line by line; the body skipped by
    its Content-Length), and ``on_answer`` is called. No task, future or coroutine per request:
    the client shares the machine's two cores with the server, so whatever it spends is taken
    from what is measured (the stream-based client cost about 73 µs of CPU a request)."""

    def __init__(self, number: int, on_answer: Callable[[_Connection, int, bool], None]) -> None:
        self.number = number  # across the process's connections (closed loop: across all processes)
        self.on_answer = on_answer
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False
        self.closed = False
        self.sequence = 0  # requests sent on this connection (closed loop)
        self.key: tuple[int, int] = (0, 0)  # (process or connection, sequence) of the request in flight
        self.due = 0.0  # perf_counter() when it was due (constant rate; closed loop: when sent)
        self.sent = 0.0  # perf_counter() when it was written

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, key: tuple[int, int], due: float) -> None:
        assert self.transport is not None
        self.busy, self.key, self.due = True, key, due
        self.sent = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.busy:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[: end + 2]).lower()
            at = head.find(b"\r\ncontent-length:")
            length = int(head[at + 17 : head.index(b"\r\n", at + 2)]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            self.busy = False
            self.on_answer(self, int(head[9:12]), b"\r\nretry-after:" in head)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy:
            self.busy = False
            self.on_answer(self, 0, False)  # 0: no answer, the server closed the connection

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _record(result: LoadResult, status: int, retry_after: bool, elapsed: float, key: tuple[int, int] | None) -> None:
    result.statuses[status] = result.statuses.get(status, 0) + 1
    if status in (200, 304):
        result.latencies.append(elapsed)
        if key is not None:
            result.accepted.append(key)
    elif status in (429, 503):
        result.refused_latencies.append(elapsed)
        if not retry_after:
            result.retry_after_missing += 1


class _Run:
    """The connections of one process, and what each does once its answer is in (``follow``)."""

    scheduled = False  # constant rate: accepted requests are listed, refusals also timed from when sent

    def __init__(self, port: int, request_for: RequestFactory, duration: float) -> None:
        self.port, self.request_for, self.duration = port, request_for, duration
        self.result = LoadResult()
        self.loop = asyncio.get_running_loop()
        self.connections: list[_Connection] = []
        self.over = self.loop.create_future()  # set once the load is over and every answer is in
        self.sent = self.answers = 0  # counted, not looked for: hundreds of connections per process

    async def open(self, numbers: range) -> None:
        for number in numbers:
            try:
                _, connection = await self.loop.create_connection(
                    partial(_Connection, number, self._answered), "127.0.0.1", self.port
                )
            except OSError:
                self.result.errors += 1
                continue
            self.connections.append(connection)

    def _answered(self, connection: _Connection, status: int, retry_after: bool) -> None:
        self.answers += 1
        if status == 0:
            self.result.errors += 1
        else:
            now = time.perf_counter()
            _record(self.result, status, retry_after, now - connection.due, connection.key if self.scheduled else None)
            if self.scheduled and status in (429, 503):
                self.result.refused_service.append(now - connection.sent)
        if not connection.closed:
            self.follow(connection)
        self._settle()

    def _settle(self) -> None:
        if not self.over.done() and self.exhausted() and self.in_flight() == 0:
            self.over.set_result(None)

    def in_flight(self) -> int:
        return self.sent - self.answers

    async def run(self) -> None:
        """Until the load is over and every answer is in, or ``GRACE_S`` after its end."""
        self.begin()
        self._settle()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.over), self.duration + GRACE_S)
        self.result.unanswered += self.in_flight()
        for connection in self.connections:
            connection.close()

    def begin(self) -> None:
        raise NotImplementedError

    def follow(self, connection: _Connection) -> None:
        raise NotImplementedError

    def exhausted(self) -> bool:
        raise NotImplementedError


class _ClosedLoop(_Run):
    """Each connection sends its next request as soon as its answer is in."""

    def __init__(self, port: int, request_for: RequestFactory, duration: float, limit: int) -> None:
        super().__init__(port, request_for, duration)
        self.limit = limit
        self.deadline = 0.0

    def begin(self) -> None:
        self.deadline = time.monotonic() + self.duration
        for connection in self.connections:
            self.follow(connection)

    def follow(self, connection: _Connection) -> None:
        if time.monotonic() < self.deadline and connection.sequence < self.limit:
            sequence = connection.sequence
            connection.sequence += 1
            request = self.request_for(connection.number, sequence)
            connection.send(request, (connection.number, sequence), time.perf_counter())
            self.sent += 1

    def exhausted(self) -> bool:
        # Past the deadline, or nothing in flight: every connection has sent its limit or closed.
        return time.monotonic() >= self.deadline or self.in_flight() == 0


class _ConstantRate(_Run):
    """Request ``n`` of the process is due at ``start + n / rate``; it goes out on the first idle
    connection at or after that moment (counted late if none was idle), and its latency counts
    from when it was due."""

    scheduled = True

    def __init__(self, port: int, request_for: RequestFactory, duration: float, process: int, rate: float) -> None:
        super().__init__(port, request_for, duration)
        self.process, self.interval = process, 1.0 / rate
        self.start = self.end = 0.0
        self.sequence = 0
        # First in, first out: every connection is used in turn, so none sits idle long enough
        # for the server's keep-alive timeout to close it.
        self.idle: deque[_Connection] = deque()
        self.timer: asyncio.TimerHandle | None = None

    def begin(self) -> None:
        self.start = time.perf_counter()
        self.end = self.start + self.duration
        self.idle = deque(self.connections)
        self._pump()

    def follow(self, connection: _Connection) -> None:
        self.idle.append(connection)
        self._pump()

    def _pump(self) -> None:
        """Send every request that is due on the idle connections; wake up for the next one."""
        now = time.perf_counter()
        while self.idle:
            due = self.start + self.sequence * self.interval
            if due >= self.end:
                return
            if due > now:
                if self.timer is None:  # uvloop's timers tick in milliseconds: never sooner than one
                    self.timer = self.loop.call_later(max(due - now, 0.001), self._woken)
                return
            connection = self.idle.popleft()
            if connection.closed:
                continue  # the server closed it while it was idle: the request goes on the next one
            if due < now - 0.001:
                self.result.late += 1
            request = self.request_for(self.process, self.sequence)
            connection.send(request, (self.process, self.sequence), due)
            self.sequence += 1
            self.sent += 1

    def _woken(self) -> None:
        self.timer = None
        self._pump()
        self._settle()

    def exhausted(self) -> bool:
        return self.start + self.sequence * self.interval >= self.end


def _install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # plain asyncio works too, just slower
        pass


def _drive(make: Callable[[], _Run], numbers: range, start_at: float) -> LoadResult:
    """Open the connections, wait for ``start_at`` (the wall clock the processes share), run."""
    _install_uvloop()

    async def main() -> LoadResult:
        run = make()
        await run.open(numbers)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        run.result.started = time.time()
        await run.run()
        run.result.finished = time.time()
        return run.result

    return asyncio.run(main())


def _process(
    port: int,
    request_for: RequestFactory,
    first: int,
    connections: int,
    start_at: float,
    duration: float,
    limit: int,
    queue: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    numbers = range(first, first + connections)
    queue.put(_drive(lambda: _ClosedLoop(port, request_for, duration, limit), numbers, start_at))


def _merge(parts: list[LoadResult]) -> LoadResult:
    merged = LoadResult(started=float("inf"))
    for part in parts:
        merged.latencies.extend(part.latencies)
        merged.refused_latencies.extend(part.refused_latencies)
        merged.refused_service.extend(part.refused_service)
        merged.accepted.extend(part.accepted)
        for status, count in part.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
        merged.errors += part.errors
        merged.late += part.late
        merged.retry_after_missing += part.retry_after_missing
        merged.unanswered += part.unanswered
        merged.started = min(merged.started, part.started)
        merged.finished = max(merged.finished, part.finished)
    return merged


def _spread(total: int, processes: int) -> list[int]:
    return [total // processes + (1 if i < total % processes else 0) for i in range(processes)]


def _gather(context: Any, target: Callable[..., None], arguments: list[tuple[Any, ...]], timeout: float) -> LoadResult:
    queue = context.Queue()
    workers = [context.Process(target=target, args=(*args, queue)) for args in arguments]
    for worker in workers:
        worker.start()
    parts = [queue.get(timeout=timeout) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    return _merge(parts)


def run_requests(
    port: int,
    request_for: RequestFactory,
    connections: int = 32,
    processes: int = 2,
    duration: float = 10.0,
    limit_per_connection: int = 10**9,
) -> LoadResult:
    """Closed loop: ``connections`` keep-alive connections from ``processes`` processes."""
    context = multiprocessing.get_context("fork")
    start_at = time.time() + 0.5
    shares = _spread(connections, processes)
    arguments = [
        (port, request_for, sum(shares[:i]), n, start_at, duration, limit_per_connection)
        for i, n in enumerate(shares)
        if n
    ]
    return _gather(context, _process, arguments, duration + GRACE_S + 60)


class _PostFactory:
    """Whole POST requests from a body factory (picklable)."""

    def __init__(self, path: str, headers: bytes, body_for: BodyFactory) -> None:
        self.path, self.headers, self.body_for = path, headers, body_for

    def __call__(self, conn: int, seq: int) -> bytes:
        return post_request(self.path, self.headers, self.body_for(conn, seq))


def run_load(
    port: int,
    path: str,
    headers: dict[str, str],
    body_for: BodyFactory,
    connections: int = 32,
    processes: int = 2,
    duration: float = 10.0,
    limit_per_connection: int = 10**9,
) -> LoadResult:
    """Drive ``connections`` keep-alive connections from ``processes`` processes for ``duration``
    with POSTs of ``body_for`` (closed loop)."""
    header_bytes = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
    return run_requests(
        port, _PostFactory(path, header_bytes, body_for), connections, processes, duration, limit_per_connection
    )


# -- constant rate ----------------------------------------------------------------------------


def _rate_process(
    port: int,
    request_for: RequestFactory,
    process: int,
    connections: int,
    rate: float,
    start_at: float,
    duration: float,
    queue: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    queue.put(_drive(lambda: _ConstantRate(port, request_for, duration, process, rate), range(connections), start_at))


def run_rate(
    port: int,
    request_for: RequestFactory,
    rate: float,
    connections: int = 32,
    processes: int = 2,
    duration: float = 10.0,
    start_at: float | None = None,
) -> LoadResult:
    """Constant rate: ``rate`` requests/s in all, over ``connections`` connections of ``processes``
    processes, for ``duration`` seconds; ``request_for(process, sequence)``. Several calls from
    threads with the same ``start_at`` run workloads side by side."""
    context = multiprocessing.get_context("fork")
    start_at = start_at or time.time() + 0.5
    shares = _spread(connections, processes)
    arguments = [(port, request_for, i, n, rate / processes, start_at, duration) for i, n in enumerate(shares) if n]
    return _gather(context, _rate_process, arguments, duration + GRACE_S + 60)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]
