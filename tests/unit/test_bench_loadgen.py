"""The load generator reads answers as a server writes them: status, Retry-After, the body by its
Content-Length (so the next answer on the connection starts where it should), and a server that
closes the connection. Against a local server that writes fixed answers; no timings."""

from __future__ import annotations

import asyncio
from types import ModuleType

import pytest

from backend.settings import PROJECT_ROOT
from tests.support import load_script


@pytest.fixture(scope="module")
def loadgen() -> ModuleType:
    return load_script(PROJECT_ROOT / "bench" / "loadgen.py", "bench_loadgen")


ANSWERS = [
    b'HTTP/1.1 200 OK\r\ndate: now\r\nContent-Length: 11\r\ncontent-type: application/json\r\n\r\n{"a": "b"}\n',
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nRetry-After: 1\r\n"
    b"content-length: 2\r\n\r\n{}",
    b'HTTP/1.1 304 Not Modified\r\netag: "x"\r\n\r\n',
]


def test_answers_are_read_one_after_another_then_the_close(loadgen: ModuleType) -> None:
    async def main() -> list[tuple[int, bool]]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for answer in ANSWERS:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(answer[:20])  # in two writes: the head arrives in pieces
                await writer.drain()
                writer.write(answer[20:])
                await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
            writer.close()  # the last request gets no answer

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        found: list[tuple[int, bool]] = []
        answered = asyncio.Event()

        def on_answer(connection: object, status: int, retry_after: bool) -> None:
            found.append((status, retry_after))
            answered.set()

        _, connection = await loop.create_connection(lambda: loadgen._Connection(0, on_answer), "127.0.0.1", port)
        for sequence in range(len(ANSWERS) + 1):
            answered.clear()
            connection.send(loadgen.get_request("/x", {}), (0, sequence), 0.0)
            await answered.wait()
        connection.close()
        server.close()
        return found

    assert asyncio.run(main()) == [(200, False), (503, True), (304, False), (0, False)]
