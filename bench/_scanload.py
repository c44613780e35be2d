"""A GET load generator for the verification benchmark: keep-alive connections, each from its
own client network.

Clone detection and the anonymous rate limit both key on the client's network (an IPv4 /24), so
a benchmark from one address would measure one client hammering one item. Every connection here
binds its own loopback source address, ``127.<a>.<b>.1``: a distinct /24 per connection (Linux
routes all of 127.0.0.0/8 to the loopback interface). Closed loop: each connection sends its next
request when the answer is in; each request is timed. Spread over processes so that the client
does not starve the server.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# (connection number across all processes, sequence number on it) -> (path with query, extra headers)
RequestFactory = Callable[[int, int], tuple[str, bytes]]


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, answered 200 or 304
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    bytes: int = 0
    started: float = 0.0
    finished: float = 0.0


def source_address(conn: int) -> str:
    """A loopback address in a /24 of its own for each connection."""
    return f"127.{1 + conn // 250}.{conn % 250}.1"


async def _connection(port: int, requests: RequestFactory, conn: int, deadline: float, result: LoadResult) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source_address(conn), 0))
    except OSError:
        result.errors += 1
        return
    sequence = 0
    try:
        while time.monotonic() < deadline:
            path, headers = requests(conn, sequence)
            sequence += 1
            started = time.perf_counter()
            writer.write(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (path.encode(), headers))
            status_line = await reader.readline()
            if not status_line:
                result.errors += 1
                return
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            elapsed = time.perf_counter() - started
            status = int(status_line.split()[1])
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.bytes += length
            if status in (200, 304):
                result.latencies.append(elapsed)
    except (ConnectionError, asyncio.IncompleteReadError):
        result.errors += 1
    finally:
        writer.close()


def _process(
    port: int,
    requests: RequestFactory,
    first: int,
    connections: int,
    start_at: float,
    duration: float,
    queue: multiprocessing.Queue,
) -> None:  # type: ignore[type-arg]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = LoadResult()

    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        result.started = time.time()
        deadline = time.monotonic() + duration
        await asyncio.gather(*(_connection(port, requests, first + c, deadline, result) for c in range(connections)))
        result.finished = time.time()

    asyncio.run(main())
    queue.put(result)


def run_load(
    port: int, requests: RequestFactory, connections: int = 32, processes: int = 2, duration: float = 10.0
) -> LoadResult:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.time() + 0.5
    shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    workers = [
        context.Process(target=_process, args=(port, requests, sum(shares[:i]), n, start_at, duration, queue))
        for i, n in enumerate(shares)
        if n
    ]
    for worker in workers:
        worker.start()
    merged = LoadResult(started=float("inf"))
    for _ in workers:
        part: LoadResult = queue.get(timeout=duration + 120)
        merged.latencies.extend(part.latencies)
        for status, count in part.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
        merged.errors += part.errors
        merged.bytes += part.bytes
        merged.started = min(merged.started, part.started)
        merged.finished = max(merged.finished, part.finished)
    for worker in workers:
        worker.join(timeout=10)
    return merged


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]
