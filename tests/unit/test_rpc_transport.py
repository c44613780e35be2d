"""The JSON-RPC transports of the sender and the indexer: the environment read once, not per call;
the indexer's urllib3 client answers as the requests-based one did (credentials, errors)."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from backend.chain.client import rpc_session
from backend.indexer.rpc import JsonRpc, RpcError, RpcUnavailable

pytestmark = pytest.mark.sqlite_only


class _Node(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []
    status = 200
    body = b""

    def do_POST(self) -> None:
        request = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Node.seen.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "request": request})
        body = _Node.body or orjson.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x2a"})
        self.send_response(_Node.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def node() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Node)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Node.seen, _Node.status, _Node.body = [], 200, b""
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_indexer_client_sends_the_urls_credentials_and_reads_the_answer(node: str) -> None:
    rpc = JsonRpc(f"http://alice:s3cret@{node}/")
    assert rpc.block_number() == 42
    assert rpc.block_number() == 42  # the same keep-alive connection again
    headers = _Node.seen[0]["headers"]
    assert headers["authorization"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert headers["content-type"] == "application/json"
    assert [s["request"]["method"] for s in _Node.seen] == ["eth_blockNumber", "eth_blockNumber"]


def test_the_indexer_client_reports_a_failing_or_absent_node(node: str) -> None:
    rpc = JsonRpc(f"http://{node}/")
    _Node.status = 503
    with pytest.raises(RpcUnavailable, match="HTTP 503"):
        rpc.block_number()
    _Node.status, _Node.body = 200, b"<html>not json</html>"
    with pytest.raises(RpcError, match="not JSON"):
        rpc.block_number()
    with pytest.raises(RpcUnavailable, match="no JSON-RPC answer"):
        JsonRpc("http://127.0.0.1:9/", timeout=2).block_number()  # nothing listens on port 9


def test_sessions_read_the_environment_once_not_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    session = rpc_session("https://rpc.example/v3/key")
    assert session.proxies["https"] == "http://proxy.internal:3128"
    assert session.trust_env is False  # requests would otherwise scan os.environ on every call
