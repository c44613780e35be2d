"""A lean HTTP/1.1 load generator: keep-alive connections over asyncio streams (uvloop when
installed), spread over several processes so the client does not starve the server.

Closed loop: each connection sends its next request when the previous answer is in. Every
request is timed; bodies come from a picklable factory so each can be unique (order ids).
Loopback only: the target is always 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# (connection number across all processes, sequence number on it) -> JSON body bytes
BodyFactory = Callable[[int, int], bytes]


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    started: float = 0.0
    finished: float = 0.0


async def _connection(
    port: int, path: str, headers: bytes, body_for: BodyFactory, conn: int, deadline: float, limit: int,
    result: LoadResult,
) -> None:  # fmt: skip
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        result.errors += 1
        return
    sequence = 0
    try:
        while time.monotonic() < deadline and sequence < limit:
            body = body_for(conn, sequence)
            sequence += 1
            request = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n%s\r\n%s" % (
                path.encode(), len(body), headers, body,
            )  # fmt: skip
            started = time.perf_counter()
            writer.write(request)
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
            if status == 200:
                result.latencies.append(elapsed)
    except (ConnectionError, asyncio.IncompleteReadError):
        result.errors += 1
    finally:
        writer.close()


def _process(
    port: int, path: str, headers: bytes, body_for: BodyFactory, first: int, connections: int,
    start_at: float, duration: float, limit: int, queue: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:  # fmt: skip
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # plain asyncio works too, just slower
        pass
    result = LoadResult()

    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        result.started = time.time()
        deadline = time.monotonic() + duration
        await asyncio.gather(*(
            _connection(port, path, headers, body_for, first + c, deadline, limit, result)
            for c in range(connections)
        ))  # fmt: skip
        result.finished = time.time()

    asyncio.run(main())
    queue.put(result)


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
    """Drive ``connections`` keep-alive connections from ``processes`` processes for ``duration``."""
    header_bytes = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.time() + 0.5
    shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    workers = [
        context.Process(
            target=_process,
            args=(
                port,
                path,
                header_bytes,
                body_for,
                sum(shares[:i]),
                n,
                start_at,
                duration,
                limit_per_connection,
                queue,
            ),
        )
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
        merged.started = min(merged.started, part.started)
        merged.finished = max(merged.finished, part.finished)
    for worker in workers:
        worker.join(timeout=10)
    return merged


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]
