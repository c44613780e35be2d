"""The platform for the read, mixed and overload benchmarks: Anvil, contracts, SQLite or a
PostgreSQL server of its own (durable settings, as ``make run-postgres``), the API, sender and
indexer as separate processes on free loopback ports, in a temporary home; plus, on request, a
second API serving the naive baseline (``bench/_naive_reads.py``) on the same database.

A helper of ``bench/reads.py``, not a benchmark: it has no main block, so bench/report.py does not run it.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _processes import free_port, group_cpu_seconds, tree_cpu_seconds  # noqa: E402  (bench/ is on sys.path)

from backend.chain.anvil import chain_paths, start_anvil, stop_anvil  # noqa: E402
from backend.chain.bootstrap import ensure_deployment  # noqa: E402
from backend.chain.nodes import NodeName  # noqa: E402
from backend.cli.seed import seed_demo  # noqa: E402
from backend.db.cluster import LocalPostgres  # noqa: E402
from backend.db.engine import make_engine  # noqa: E402
from backend.db.migrate import upgrade  # noqa: E402
from backend.settings import PROJECT_ROOT, Settings  # noqa: E402


class Stack:
    """Anvil + contracts + database + API (+ naive API) + sender + indexer, in a temporary home."""

    def __init__(
        self,
        database: str,
        api_workers: int,
        server: str = "credance",
        naive: bool = False,
        env: dict[str, str] | None = None,
        naive_env: dict[str, str] | None = None,
        node: NodeName = "anvil",
    ) -> None:
        self.node = node
        self.database = database
        self.api_workers = api_workers
        self.server = server
        self.naive = naive
        self.extra_env = env or {}
        self.naive_env = naive_env or {}
        self.home = Path(tempfile.mkdtemp(prefix="credance-bench-reads-"))
        self.home.chmod(0o755)  # a PostgreSQL run as another user must reach its directory
        self.api_port = free_port()
        self.naive_port = free_port()
        self.postgres: LocalPostgres | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.settings = Settings(
            node=node,
            home=self.home,
            port=self.api_port,
            chain_port=free_port(),
            deployments_dir=self.home / "deployments",
            database_url=f"sqlite:///{self.home / 'credance.db'}",
        )

    def env(self, port: int) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "CREDANCE_HOME": str(self.home),
            "CREDANCE_PORT": str(port),
            "CREDANCE_CHAIN_PORT": str(s.chain_port),
            "CREDANCE_CHAIN_ID": "31337",
            "CREDANCE_NODE": self.node,
            "CREDANCE_DATABASE_URL": s.resolved_database_url,
            "CREDANCE_DEPLOYMENTS_DIR": str(s.deployments_dir),
            "CREDANCE_LOG_LEVEL": "WARNING",
            "CREDANCE_LOG_FORMAT": "json",
            # The load comes from one address with one key: the per-key and per-address rates
            # (abuse guards, per worker) would measure themselves, not the read path.
            "CREDANCE_RATE_LIMIT_CHECKOUT": "0",
            "CREDANCE_RATE_LIMIT_KEY": "0",
            "CREDANCE_RATE_LIMIT_ANONYMOUS": "0",
            **self.extra_env,
        }

    def start(self) -> dict[str, str]:
        """Everything up; the demo keys (admin, checkout, program…)."""
        if self.database == "postgres":
            self.postgres = LocalPostgres(self.home / "postgres", free_port(), fast_unsafe=False)
            self.postgres.init()
            self.postgres.start()
            url = self.postgres.create_database("credance")
            self.settings = self.settings.model_copy(update={"database_url": url})
        s = self.settings
        start_anvil(self.home, s.chain_port, PROJECT_ROOT / "node_modules", persist=False, node=self.node, timeout=60)
        ensure_deployment(s, force=True)
        upgrade(s.resolved_database_url)
        self.engine = make_engine(s.resolved_database_url)
        keys = seed_demo(self.engine, s, 31337)
        (self.home / "logs").mkdir(exist_ok=True)
        self._spawn("api", self._api_command(self.api_port, "backend.api.main:app"), self.api_port)
        if self.naive:
            self._spawn(
                "naive", self._api_command(self.naive_port, "bench._naive_reads:app"), self.naive_port, self.naive_env
            )
        self._spawn("sender", [sys.executable, "-m", "backend.cli.main", "sender"], self.api_port)
        self._spawn("indexer", [sys.executable, "-m", "backend.cli.main", "indexer"], self.api_port)
        for port in [self.api_port] + ([self.naive_port] if self.naive else []):
            self._wait_healthy(port)
        return {"admin": keys.admin, "checkout": keys.checkout, "program": keys.program}

    def spawn_api(self, name: str, server: str) -> int:
        """One more API process on the same database, served by ``server``; its port."""
        port = free_port()
        self._spawn(name, self._api_command(port, "backend.api.main:app", server), port)
        self._wait_healthy(port)
        return port

    def _api_command(self, port: int, app: str, server: str | None = None) -> list[str]:
        server = server or self.server
        if app == "backend.api.main:app" and server == "credance":  # `credance serve`, as deployed
            return [sys.executable, "-m", "backend.cli.main", "serve", "--workers", str(self.api_workers)]
        if server == "uvicorn-h11":  # uvicorn's pure-Python stack: asyncio and h11
            return [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(self.api_workers),
                "--log-level",
                "warning",
                "--no-access-log",
                "--no-proxy-headers",  # as `credance serve` without CREDANCE_FORWARDED_ALLOW_IPS
                "--no-server-header",
                "--loop",
                "asyncio",
                "--http",
                "h11",
            ]
        if server == "granian":
            return [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(self.api_workers),
                "--log-level",
                "warning",
                "--no-ws",
                app,
            ]
        return [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(self.api_workers),
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-proxy-headers",
            "--no-server-header",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ]

    def _spawn(self, name: str, command: list[str], port: int, env: dict[str, str] | None = None) -> None:
        with (self.home / "logs" / f"{name}.log").open("wb") as log:
            environment = {**self.env(port), **(env or {})}
            self.processes[name] = subprocess.Popen(
                command, env=environment, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait_healthy(self, port: int) -> None:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API on port {port} did not start; see {self.home / 'logs'}")
            time.sleep(0.2)

    def cpu(self) -> dict[str, float]:
        usage = {name: group_cpu_seconds(p.pid) for name, p in self.processes.items()}
        node_pid = int(chain_paths(self.home).pid.read_text())
        usage[self.node] = group_cpu_seconds(os.getpgid(node_pid))
        if self.postgres is not None:  # the server and its backends (each in a session of its own)
            with contextlib.suppress(OSError, ValueError):
                usage["postgres"] = tree_cpu_seconds(
                    int((self.postgres.data / "postmaster.pid").read_text().split()[0])
                )
        return usage

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as db:
            return db.execute(text(sql), params).scalar()

    def wait_confirmed(self, timeout: float) -> float:
        """Until no operation is pending or sent; the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.scalar("SELECT count(*) FROM operations WHERE status IN ('pending', 'sent')"):
                break
            time.sleep(0.25)
        return time.monotonic() - started

    def stop_process(self, name: str) -> None:
        """Stop one process this stack started (its whole process group)."""
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if hasattr(self, "engine"):
            self.engine.dispose()
        with contextlib.suppress(Exception):
            stop_anvil(self.home)
        if self.postgres is not None:
            # Start-up made the home private (0700): the server's user must reach its directory again
            # to be stopped, or it outlives the run.
            self.home.chmod(0o755)
            self.postgres.stop()
        shutil.rmtree(self.home, ignore_errors=True)


class Purchases:
    """A picklable factory of unique purchases (``tag-process-sequence``) for ``customers``."""

    def __init__(self, tag: str, key: str, customers: list[str]) -> None:
        self.tag = tag
        self.headers = f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n".encode()
        self.customers = customers

    def body(self, conn: int, seq: int) -> bytes:
        customer = self.customers[random.Random(conn * 1_000_003 + seq).randrange(len(self.customers))]
        return (
            b'{"order_id":"%s-%d-%d","customer_id":"%s","store_id":"demo-store","currency":"USD",'
            b'"lines":[{"sku":"COFFEE","quantity":1,"unit_price":"12.50"}]}'
            % (self.tag.encode(), conn, seq, customer.encode())
        )

    def __call__(self, conn: int, seq: int) -> bytes:
        body = self.body(conn, seq)
        return b"POST /v1/purchases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n%s\r\n%s" % (
            len(body),
            self.headers,
            body,
        )


class Reads:
    """A picklable factory of GETs of ``/v1/customers/{id}/{kind}`` for random customers."""

    def __init__(self, kind: str, key: str, customers: list[str], query: str = "") -> None:
        self.kind, self.customers, self.query = kind, customers, query
        self.headers = f"Authorization: Bearer {key}\r\n".encode()

    def __call__(self, conn: int, seq: int) -> bytes:
        customer = self.customers[random.Random(conn * 7_000_003 + seq).randrange(len(self.customers))]
        return b"GET /v1/customers/%s/%s%s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (
            customer.encode(),
            self.kind.encode(),
            self.query.encode(),
            self.headers,
        )
