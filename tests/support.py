"""Test helpers: a real Anvil per test session, a deployment, a migrated database, and a platform
(API client, sender and indexer) wired to them."""

from __future__ import annotations

import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from web3 import Web3

from backend.api.app import create_app
from backend.chain.context import ChainContext, open_chain
from backend.chain.sender import Sender
from backend.chain.signers import Signers
from backend.db.models import Operation, OperationStatus
from backend.indexer.reconcile import ReconcileReport, reconcile
from backend.indexer.runner import Indexer
from backend.settings import Settings


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
    shutil.copyfile(template, target)


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
