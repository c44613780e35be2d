"""A lean JSON-RPC client for the indexer: raw hex results parsed with orjson.

web3.py formats every field of every log into Python objects (HexBytes, checksum addresses,
AttributeDicts): for a backfill of 100,000 logs that alone costs more than the node's answer.
The indexer only needs a few calls, so it speaks JSON-RPC itself, over one keep-alive connection
of urllib3 (what requests runs on): requests' own layer (merging session settings, hooks,
cookies, runtime Protocol checks) was about as much Python per call as the rest of an indexer
step's bookkeeping. The environment's settings (proxy, ``.netrc``, CA bundle) are read once.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

import orjson
import urllib3
from requests.utils import get_auth_from_url, get_environ_proxies, get_netrc_auth, select_proxy
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import TimeoutError as TransportTimeout


class RpcError(RuntimeError):
    """The node answered with an error, or not at all."""


class RpcUnavailable(RpcError):
    """No answer: connection refused or reset, or the request timed out."""


class RangeTooLarge(RpcError):
    """The node refuses (or cannot serve in time) this many blocks or logs in one eth_getLogs."""


# What nodes and providers say when a log query is too big (geth, Erigon, Alchemy, Infura, …).
_RANGE_ERRORS = (
    "too many",
    "query returned more than",
    "response size",
    "exceed",
    "limit",
    "block range",
    "range is too large",
    "timeout",
    "timed out",
)


@dataclass(frozen=True, slots=True)
class Header:
    number: int
    hash: str
    parent_hash: str
    timestamp: int

    @classmethod
    def from_json(cls, block: dict[str, Any]) -> Header:
        return cls(
            number=int(block["number"], 16),
            hash=block["hash"].lower(),
            parent_hash=block["parentHash"].lower(),
            timestamp=int(block["timestamp"], 16),
        )


class JsonRpc:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.timeout = timeout
        self._headers = _headers(url)
        self._pool = _pool(url)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._pool.clear()

    def _post(self, payload: Any, timeout: float | None = None) -> Any:
        try:
            response = self._pool.request(
                "POST",
                self.url,
                body=orjson.dumps(payload),
                headers=self._headers,
                timeout=timeout or self.timeout,
                retries=_NO_RETRY,
                redirect=False,
            )
        except TransportTimeout as exc:
            raise RpcUnavailable(f"{self.url} timed out") from exc
        except TransportError as exc:
            raise RpcUnavailable(f"no JSON-RPC answer at {self.url}: {exc.__class__.__name__}") from exc
        if response.status >= 500 or response.status == 429:
            raise RpcUnavailable(f"{self.url} answered HTTP {response.status}")
        try:
            return orjson.loads(response.data)
        except orjson.JSONDecodeError as exc:
            raise RpcError(f"{self.url} answered something that is not JSON (HTTP {response.status})") from exc

    def call(self, method: str, *params: Any, timeout: float | None = None) -> Any:
        answer = self._post(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}, timeout
        )
        return _result(method, answer)

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one request; results in the order of ``calls``."""
        if not calls:
            return []
        first = next(self._ids)
        payload = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        for _ in range(len(calls) - 1):
            next(self._ids)
        answers = self._post(payload)
        if not isinstance(answers, list):
            raise RpcError(f"batch request refused: {answers}")
        by_id = {a.get("id"): a for a in answers}
        return [_result(m, by_id.get(first + i, {})) for i, (m, _) in enumerate(calls)]

    # -- the calls the indexer makes --------------------------------------------------------

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def headers(self, numbers: list[int] | set[int]) -> dict[int, Header | None]:
        """Headers by number (None where the chain has no such block), 200 per request."""
        ordered = sorted(set(numbers))
        found: dict[int, Header | None] = {}
        for start in range(0, len(ordered), 200):
            chunk = ordered[start : start + 200]
            blocks = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in chunk])
            found.update({n: None if b is None else Header.from_json(b) for n, b in zip(chunk, blocks, strict=True)})
        return found

    def latest(self) -> Header:
        return Header.from_json(self.call("eth_getBlockByNumber", "latest", False))

    def get_logs(self, addresses: list[str], start: int, end: int) -> list[dict[str, Any]]:
        try:
            return list(
                self.call("eth_getLogs", {"address": addresses, "fromBlock": hex(start), "toBlock": hex(end)}) or []
            )
        except RpcUnavailable as exc:
            if "timed out" in str(exc):
                raise RangeTooLarge(str(exc)) from exc
            raise


# As requests sends: no retry of a request the node may have received. (A pooled connection the
# node closed while idle is not a retry: urllib3 checks it before use and opens a new one.)
_NO_RETRY = urllib3.Retry(0, read=False)


def _pool(url: str) -> urllib3.PoolManager:
    """One keep-alive connection to the node, through the environment's proxy if it names one."""
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    options: dict[str, Any] = {"num_pools": 1, "maxsize": 1}
    if ca_bundle:
        options["ca_certs"] = ca_bundle
    proxy = select_proxy(url, get_environ_proxies(url))
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


def _headers(url: str) -> dict[str, str]:
    """The request headers: JSON, and Basic credentials from the URL or ``.netrc`` if any."""
    headers = {"Content-Type": "application/json"}
    user, password = get_netrc_auth(url) or get_auth_from_url(url)
    if user or password:
        headers.update(urllib3.make_headers(basic_auth=f"{user}:{password}"))
    return headers


def _result(method: str, answer: dict[str, Any]) -> Any:
    if "error" in answer:
        error = answer["error"]
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        if method == "eth_getLogs" and any(s in message.lower() for s in _RANGE_ERRORS):
            raise RangeTooLarge(message)
        raise RpcError(f"{method}: {message}")
    if "result" not in answer:
        raise RpcError(f"{method}: no result in {str(answer)[:200]}")
    return answer["result"]
