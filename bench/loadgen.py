"""A lean HTTP/1.1 load generator: keep-alive connections over asyncio streams (uvloop when
installed), spread over several processes so the client does not starve the server.

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
from collections.abc import Callable
from dataclasses import dataclass, field
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


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool] | None:
    """Send one request, read its answer; (status, has Retry-After), None if the server closed."""
    writer.write(request)
    status_line = await reader.readline()
    if not status_line:
        return None
    length = 0
    retry_after = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"retry-after":
            retry_after = True
    if length:
        await reader.readexactly(length)
    return int(status_line.split()[1]), retry_after


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, result: LoadResult
) -> tuple[int, bool] | None:
    """``_exchange``, counting the request as unanswered if the load is called off while it waits."""
    try:
        return await _exchange(reader, writer, request)
    except asyncio.CancelledError:
        result.unanswered += 1
        raise


async def _within_grace(duration: float, connections: list[Any]) -> None:
    """Run the connections; call off those still waiting ``GRACE_S`` after the load's end."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*connections), duration + GRACE_S)


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


async def _connection(
    port: int,
    request_for: RequestFactory,
    conn: int,
    deadline: float,
    limit: int,
    result: LoadResult,
) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        result.errors += 1
        return
    sequence = 0
    try:
        while time.monotonic() < deadline and sequence < limit:
            request = request_for(conn, sequence)
            sequence += 1
            started = time.perf_counter()
            answer = await _answer(reader, writer, request, result)
            if answer is None:
                result.errors += 1
                return
            _record(result, answer[0], answer[1], time.perf_counter() - started, None)
    except (ConnectionError, asyncio.IncompleteReadError):
        result.errors += 1
    finally:
        writer.close()


def _install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # plain asyncio works too, just slower
        pass


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
    _install_uvloop()
    result = LoadResult()

    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        result.started = time.time()
        deadline = time.monotonic() + duration
        await _within_grace(
            duration, [_connection(port, request_for, first + c, deadline, limit, result) for c in range(connections)]
        )
        result.finished = time.time()

    asyncio.run(main())
    queue.put(result)


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


async def _scheduled_connection(
    port: int,
    request_for: RequestFactory,
    process: int,
    schedule: list[int],
    start: float,
    interval: float,
    deadline: float,
    result: LoadResult,
) -> None:
    """Take the next due request of the process's schedule, wait until it is due, send it;
    latency from when it was due (``start + n * interval``)."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        result.errors += 1
        return
    try:
        while True:
            sequence = schedule[0]
            due = start + sequence * interval
            if due >= deadline:
                return
            schedule[0] += 1
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.001:
                result.late += 1
            sent = time.perf_counter()
            answer = await _answer(reader, writer, request_for(process, sequence), result)
            if answer is None:
                result.errors += 1
                return
            answered = time.perf_counter()
            _record(result, answer[0], answer[1], answered - due, (process, sequence))
            if answer[0] in (429, 503):
                result.refused_service.append(answered - sent)
    except (ConnectionError, asyncio.IncompleteReadError):
        result.errors += 1
    finally:
        writer.close()


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
    _install_uvloop()
    result = LoadResult()

    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        result.started = time.time()
        start = time.perf_counter()
        schedule = [0]  # the next sequence number of this process, shared by its connections
        await _within_grace(
            duration,
            [
                _scheduled_connection(port, request_for, process, schedule, start, 1.0 / rate, start + duration, result)
                for _ in range(connections)
            ],
        )
        result.finished = time.time()

    asyncio.run(main())
    queue.put(result)


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
