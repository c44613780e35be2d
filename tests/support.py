"""Test helpers: a real Anvil per test session, a deployment, a migrated database, and a platform
(API client, sender and indexer) wired to them."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import socket
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import requests
from eth_abi import encode as abi_encode
from fastapi.testclient import TestClient
from hexbytes import HexBytes
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from web3 import Web3

from backend.api.app import create_app
from backend.chain.context import ChainContext, open_chain
from backend.chain.local_signer import LocalSigner
from backend.chain.named_signers import Signers
from backend.chain.sender import Sender
from backend.db.models import Operation, OperationStatus
from backend.indexer.reconcile import ReconcileReport, reconcile
from backend.indexer.runner import Indexer
from backend.settings import PROJECT_ROOT, Settings

CREDANCE_CLI = str(PROJECT_ROOT / ".venv" / "bin" / "credance")  # the installed command line
AWARD_BATCH = Web3.keccak(text="awardBatch((address,uint64,uint32,uint128,bytes32)[])")[:4]


def award_batch_tx(
    ctx: ChainContext, customers: list[str], first_operation: int, order_ref: bytes = b"\x07" * 32
) -> dict[str, Any]:
    """An ``awardBatch`` call (10 points to each customer, rule set 1) encoded with eth_abi (web3's
    contract encoder is ~10x slower for hundreds of awards)."""
    awards = [(customer, first_operation + i, 1, 10, order_ref) for i, customer in enumerate(customers)]
    data = AWARD_BATCH + abi_encode(["(address,uint64,uint32,uint128,bytes32)[]"], [awards])
    return {"to": ctx.points.address, "data": HexBytes(data), "gas": 60_000 + 40_000 * len(customers)}


def award_load(
    ctx: ChainContext, issuer: LocalSigner, customers: list[str], transactions: int, first_operation: int
) -> int:
    """Send ``transactions`` awardBatch transactions, one award per customer each (2 events per
    award), signed locally; wait for all; return the next operation id."""
    hashes = []
    operation = first_operation
    for _ in range(transactions):
        hashes.append(issuer.send(award_batch_tx(ctx, customers, operation)))  # type: ignore[arg-type]
        operation += len(customers)
    for tx_hash in hashes:
        issuer.wait(tx_hash, timeout=300)
    return operation


class FaultyNode:
    """A JSON-RPC proxy in front of a real node that misbehaves on demand, as public providers do:
    refuses wide ``eth_getLogs`` ranges ("query returned more than 10000 results"), answers
    HTTP 503, or closes connections (the node is "down")."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.max_log_blocks: int | None = None
        self.failures_left = 0  # next requests answered with HTTP 503
        self.down = False
        self.refused = 0
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if node.down:
                    self.connection.close()
                    return
                if node.failures_left > 0:
                    node.failures_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                payload = json.loads(body)
                calls = payload if isinstance(payload, list) else [payload]
                if node.max_log_blocks is not None and any(node._too_wide(c) for c in calls):
                    node.refused += 1
                    answer = {
                        "jsonrpc": "2.0",
                        "id": calls[0].get("id"),
                        "error": {"code": -32005, "message": "query returned more than 10000 results"},
                    }
                    data = json.dumps(answer).encode()
                else:
                    data = requests.post(
                        node.upstream, data=body, headers={"Content-Type": "application/json"}, timeout=60
                    ).content
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _too_wide(self, call: dict[str, Any]) -> bool:
        if call.get("method") != "eth_getLogs" or self.max_log_blocks is None:
            return False
        query = call["params"][0]
        return int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1 > self.max_log_blocks

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    if "error" in response:
        raise RuntimeError(response["error"])
    return response["result"]


def copy_database(template: Path, target: Path) -> None:
    """The template as it is, its log included: its last commits may be only in its WAL (commits
    never checkpoint, backend/db/checkpoint.py), so copying the file alone could lose them."""
    with contextlib.closing(sqlite3.connect(template)) as source, contextlib.closing(sqlite3.connect(target)) as copy:
        source.backup(copy)


@dataclass
class Platform:
    """The backend wired to a test chain and database, driven step by step."""

    settings: Settings
    engine: Engine
    ctx: ChainContext
    client: TestClient
    sender: Sender
    indexer: Indexer
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str = "checkout") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def customer_token(self, customer: str, scopes: list[str] | None = None, issuer: str = "admin") -> str:
        """A customer token for ``customer`` (enrolled), issued by the admin (or ``issuer``'s) key."""
        body: dict[str, Any] = {"scopes": scopes} if scopes else {}
        response = self.client.post(f"/v1/customers/{customer}/tokens", json=body, headers=self.headers(issuer))
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def as_customer(self, customer: str, scopes: list[str] | None = None) -> dict[str, str]:
        """Headers of a call the customer makes themselves, with a fresh token of theirs."""
        return {"Authorization": f"Bearer {self.customer_token(customer, scopes)}"}

    def till_code(self, customer: str) -> str:
        """The one-time code the customer shows at a till (asked for with their own token)."""
        response = self.client.post(f"/v1/customers/{customer}/till-codes", headers=self.as_customer(customer))
        assert response.status_code == 201, response.text
        return str(response.json()["code"])

    def in_flight(self) -> int:
        with Session(self.engine) as session:
            return len(
                session.exec(
                    select(Operation.id).where(
                        col(Operation.status).in_([OperationStatus.PENDING, OperationStatus.SENT])
                    )
                ).all()
            )

    def settle(self, timeout: float = 30.0) -> None:
        """Send every ready operation and mirror the chain until nothing is left in flight."""
        deadline = time.monotonic() + timeout
        while True:
            sent = self.sender.step()
            self.indexer.sync()
            if sent.transactions == 0 and self.in_flight() == 0:
                return
            if sent.transactions == 0 and time.monotonic() > deadline:
                raise TimeoutError(f"{self.in_flight()} operations still in flight")

    def reconcile(self, repair: bool = False) -> ReconcileReport:
        """Run `credance reconcile` against this platform's chain and database."""
        return reconcile(self.engine, self.ctx, repair=repair)

    def assert_mirror_matches_chain(self) -> ReconcileReport:
        """Settle, then prove the mirror equals the chain (every difference in the failure message)."""
        self.settle()
        report = self.reconcile()
        details = "\n".join(d.describe() for d in report.differences)
        assert report.ok, f"{report.summary()}\n{details}"
        return report


def make_platform(settings: Settings, engine: Engine, keys: dict[str, str]) -> Platform:
    ctx = open_chain(settings)
    signers = Signers(ctx.w3, ctx.chain_id, settings, engine)
    sender = Sender(engine, ctx, signers, batch_size=settings.sender_batch_size, max_delay_ms=0)
    indexer = Indexer(engine, ctx, settings.confirmations, settings.indexer_max_range)
    client = TestClient(create_app(settings, engine), raise_server_exceptions=False)
    return Platform(settings, engine, ctx, client, sender, indexer, keys)


def load_script(path: Path, name: str) -> ModuleType:
    """A script that is not a package module (bench/, scripts/), imported under ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
