"""A lean JSON-RPC client for the indexer: raw hex results parsed with orjson.

web3.py formats every field of every log into Python objects (HexBytes, checksum addresses,
AttributeDicts): for a backfill of 100,000 logs that alone costs more than the node's answer.
The indexer only needs a few calls, so it speaks JSON-RPC itself, over one keep-alive session.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import orjson
import requests

from backend.chain.client import rpc_session


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
        self._session = rpc_session(url, pool_maxsize=1)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._session.close()

    def _post(self, payload: Any, timeout: float | None = None) -> Any:
        try:
            response = self._session.post(
                self.url,
                data=orjson.dumps(payload),
                headers={"Content-Type": "application/json"},
                timeout=timeout or self.timeout,
            )
        except requests.Timeout as exc:
            raise RpcUnavailable(f"{self.url} timed out") from exc
        except requests.RequestException as exc:
            raise RpcUnavailable(f"no JSON-RPC answer at {self.url}: {exc.__class__.__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise RpcUnavailable(f"{self.url} answered HTTP {response.status_code}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise RpcError(f"{self.url} answered something that is not JSON (HTTP {response.status_code})") from exc

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
