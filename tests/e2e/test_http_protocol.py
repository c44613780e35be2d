"""The HTTP protocol of ``credance serve`` (backend/api/http_protocol.py) through a real uvicorn
and raw sockets: ``/healthz`` and the refusals of a full class are written by the protocol itself,
byte for byte what the application would have answered, and the connection goes on correctly
after them (the refused request's body dropped, pipelined requests in order); what it must not
answer early (a connection that closes after the request) takes the usual way.

No timings: whether the application ran is counted (request-response cycles started).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from sqlmodel import Session, col, select
from uvicorn.protocols.http import httptools_impl

from backend.api.admission import Gate
from backend.api.app import create_app
from backend.api.budget import ClassLimit, RouteClass
from backend.api.http_protocol import EarlyAnsweringProtocol
from backend.db.models import Purchase
from tests.e2e.loyalty_helpers import order
from tests.support import Platform, free_port

pytestmark = pytest.mark.chain


@dataclass
class Served:
    port: int
    app: Any
    cycles: list[str]  # the path of every request that reached the application through ASGI

    @property
    def checkout(self) -> Gate:
        gate: Gate = self.app.state.gates.by_class[RouteClass.CHECKOUT]
        return gate

    def fill_checkout(self) -> None:
        """One slot, held by the test; no queue: the next purchase is refused at once."""
        self.checkout.limit = ClassLimit(concurrency=1, queue=0, max_wait_s=0.0)
        self.checkout.active = 1

    def free_checkout(self) -> None:
        self.checkout.active = 0


@pytest.fixture
def served(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    cycles: list[str] = []
    run_asgi = httptools_impl.RequestResponseCycle.run_asgi

    async def counted(self: Any, app: Any) -> None:
        cycles.append(self.scope["path"])
        await run_asgi(self, app)

    monkeypatch.setattr(httptools_impl.RequestResponseCycle, "run_asgi", counted)
    app = create_app(platform.settings, platform.engine)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=EarlyAnsweringProtocol, server_header=False, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.01)
    yield Served(port, app, cycles)
    server.should_exit = True
    thread.join()


def purchase(platform: Platform, order_id: str, *, chunked: bool = False, close: bool = False) -> bytes:
    body = orjson.dumps(order(order_id, "quinn"))
    head = [
        b"POST /v1/purchases HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Content-Type: application/json",
        b"Authorization: " + platform.headers()["Authorization"].encode(),
    ]
    if close:
        head.append(b"Connection: close")
    if chunked:  # the body in two chunks: the parser must drop both
        half = len(body) // 2
        head.append(b"Transfer-Encoding: chunked")
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:]))
        return b"\r\n".join(head) + b"\r\n\r\n" + chunks + b"0\r\n\r\n"
    head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""

    def send(self, *requests: bytes) -> None:
        """Several requests in one write: pipelined."""
        self.sock.sendall(b"".join(requests))

    def answer(self) -> Answer:
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._read()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Answer(int(status_line.split()[1]), headers, body)

    def closed_by_server(self) -> bool:
        return self.sock.recv(1) == b""

    def _read(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def close(self) -> None:
        self.sock.close()


def through_asgi(app: Any, platform: Platform, order_id: str) -> httpx.Response:
    """The same purchase through the application (the middleware's refusal), in process."""

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post("/v1/purchases", json=order(order_id, "quinn"), headers=platform.headers())

    return asyncio.run(main())


def test_healthz_and_refusals_are_written_by_the_protocol_as_the_application_writes_them(
    platform: Platform, served: Served
) -> None:
    served.fill_checkout()
    connection = Connection(served.port)
    try:
        # A refused purchase with a body, /healthz, a refused purchase in chunks, /healthz: pipelined.
        connection.send(purchase(platform, "EARLY-1"), HEALTHZ, purchase(platform, "EARLY-2", chunked=True), HEALTHZ)
        refused, health, refused_chunked, health_again = (connection.answer() for _ in range(4))
    finally:
        connection.close()
    assert served.cycles == []  # the application never ran
    assert (refused.status, health.status, refused_chunked.status, health_again.status) == (503, 200, 503, 200)
    assert orjson.loads(health.body) == {"status": "ok"}
    assert health.headers["x-content-type-options"] == "nosniff"
    assert "date" in health.headers
    assert "server" not in health.headers
    assert served.checkout.refused == 2

    # Byte for byte the application's refusal (headers apart from the date, body).
    reference = through_asgi(served.app, platform, "EARLY-3")
    assert served.checkout.refused == 3
    assert reference.status_code == 503
    assert refused.body == refused_chunked.body == reference.content
    early_headers = {name: value for name, value in refused.headers.items() if name != "date"}
    assert early_headers == dict(reference.headers)
    assert early_headers["retry-after"] == "1"
    assert orjson.loads(refused.body)["error"]["route_class"] == "checkout"


def test_after_an_early_refusal_the_connection_serves_the_application(platform: Platform, served: Served) -> None:
    served.fill_checkout()
    connection = Connection(served.port)
    try:
        connection.send(purchase(platform, "LATE-1"))
        assert connection.answer().status == 503
        served.free_checkout()
        connection.send(purchase(platform, "LATE-2"), HEALTHZ)  # the next one is admitted, on the same connection
        accepted, health = connection.answer(), connection.answer()
    finally:
        connection.close()
    assert (accepted.status, health.status) == (200, 200)
    # /healthz came while the purchase was in flight: the protocol left it to the application,
    # so that it could not overtake the purchase's answer.
    assert served.cycles == ["/v1/purchases", "/healthz"]
    with Session(platform.engine) as session:
        recorded = session.exec(select(Purchase.order_id).where(col(Purchase.order_id).like("LATE-%"))).all()
    assert recorded == ["LATE-2"]  # the refused one was not recorded, the accepted one was


def test_a_request_that_closes_its_connection_takes_the_usual_way(platform: Platform, served: Served) -> None:
    served.fill_checkout()
    connection = Connection(served.port)
    try:
        connection.send(purchase(platform, "CLOSE-1", close=True))
        refused = connection.answer()
        assert connection.closed_by_server()
    finally:
        connection.close()
    assert refused.status == 503
    assert refused.headers["connection"] == "close"
    assert served.cycles == ["/v1/purchases"]  # refused by the application's admission, not early
    assert served.checkout.refused == 1
