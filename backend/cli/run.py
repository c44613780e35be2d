"""`credance run` / `make run`: the whole platform in the foreground, supervised.

Starts (or reuses) Anvil, deploys if the chain has no live deployment, migrates the database,
seeds the demo, then runs the API, the indexer and the sender as child processes, restarting
any that dies. Ctrl-C stops the children and Anvil, which saves its chain for the next run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx
import psycopg
from prometheus_client import multiprocess
from sqlalchemy.engine import make_url

from backend.chain.anvil import start_anvil, stop_anvil
from backend.chain.bootstrap import ensure_deployment
from backend.chain.nodes import profile
from backend.cli.common import console
from backend.cli.seed import DEMO_BRAND, DEMO_CUSTOMER, DEMO_GTINS, DEMO_STORE, DemoKeys, seed_demo
from backend.db.cluster import LocalPostgres, PostgresUnavailable
from backend.db.engine import make_engine
from backend.db.migrate import upgrade
from backend.home import secure_home
from backend.observability import MULTIPROC_ENV, prepare_multiprocess_dir
from backend.settings import Settings
from backend.web.links import sign_in_link


@dataclass
class Child:
    name: str
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    log_path: str = field(default="")

    def start(self, env: dict[str, str]) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child owns it)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli.main", *self.args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _wait_healthy(url: str, api: Child, timeout: float = 180.0) -> bool:
    """Wait for the API to answer, as long as its process lives (a loaded machine is slow to import)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and api.alive():
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _local_postgres(settings: Settings) -> tuple[LocalPostgres, str]:
    """Start (or reuse) the PostgreSQL cluster of this home; return it and the database URL."""
    directory = settings.resolved_home / "postgres"
    try:
        server = LocalPostgres(directory, settings.pg_port, fast_unsafe=False)
        if not server.running():
            console.print(f"starting PostgreSQL on port {settings.pg_port} (data in {directory})")
            server.start()
    except PostgresUnavailable as exc:
        raise PostgresUnavailable(f"{exc} (or point CREDANCE_DATABASE_URL at a PostgreSQL server)") from exc
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'credance'").fetchone() is None:
            conn.execute("CREATE DATABASE credance")
    return server, server.url("credance")


def run_platform(settings: Settings, workers: int = 1, postgres: bool = False) -> None:
    home = settings.resolved_home
    # A local PostgreSQL under root runs as another user, with its data in the home: let it through.
    secure_home(home, traversable=postgres and not settings.database_url and os.geteuid() == 0)
    database_server: LocalPostgres | None = None
    if postgres and not settings.database_url:
        database_server, url = _local_postgres(settings)
        settings = settings.model_copy(update={"database_url": url})
    try:
        _run(settings, workers)
    finally:
        if database_server is not None:
            database_server.stop()


def _run(settings: Settings, workers: int) -> None:
    home = settings.resolved_home
    started_anvil = False
    if settings.uses_local_anvil:
        kept = f"chain kept in {home / 'chain'}" if profile(settings.node).persists else "chain not kept"
        console.print(f"starting {settings.node} on port {settings.chain_port} ({kept})")
        start_anvil(
            home,
            settings.chain_port,
            settings.node_modules,
            settings.chain_state_interval,
            settings.block_time,
            node=settings.node,
        )
        started_anvil = True
    manifest, deployed = ensure_deployment(settings)
    console.print(("deployed" if deployed else "using deployment") + f" on chain {manifest.chain_id}")
    upgrade(settings.resolved_database_url)
    keys = seed_demo(make_engine(settings.resolved_database_url), settings, manifest.chain_id)

    env = {
        **os.environ,
        "CREDANCE_HOME": str(home),
        "CREDANCE_CHAIN_ID": str(manifest.chain_id),
        "CREDANCE_DATABASE_URL": settings.resolved_database_url,
        # API workers, indexer and sender share their metrics through files: /metrics sums them.
        MULTIPROC_ENV: str(prepare_multiprocess_dir(home / "metrics")),
    }
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    children = [
        # loyalty upkeep: expiry burns, tier evaluation, undo of refused debits (hourly)
        Child("loyalty", ["loyalty", "maintain", "--every", "3600"], log_path=str(logs / "loyalty.log")),
        Child("api", ["serve", "--workers", str(workers)], log_path=str(logs / "api.log")),
        Child("indexer", ["indexer"], log_path=str(logs / "indexer.log")),
        Child("sender", ["sender"], log_path=str(logs / "sender.log")),
        Child("anchorer", ["anchorer"], log_path=str(logs / "anchorer.log")),  # provenance: EPCIS anchors
    ]
    for child in children:
        child.start(env)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    url = f"http://{settings.host}:{settings.port}"
    try:
        if not _wait_healthy(url, children[0]):
            console.print(f"[red]the API did not come up; see {logs / 'api.log'}[/]")
            return
        member_link = sign_in_link(make_engine(settings.resolved_database_url), settings, DEMO_CUSTOMER, url)
        _print_banner(settings, url, manifest.chain_id, keys, member_link)
        while not stop.wait(0.5):
            for child in children:
                if not child.alive():
                    if child.process is not None:  # its per-process gauges no longer count
                        multiprocess.mark_process_dead(child.process.pid, env[MULTIPROC_ENV])  # type: ignore[no-untyped-call]
                    child.restarts += 1
                    console.print(f"[yellow]{child.name} exited; restarting (see {child.log_path})[/]")
                    child.start(env)
    finally:
        console.print("stopping…")
        for child in children:
            child.stop()
        if started_anvil:
            stop_anvil(home)


def _print_banner(settings: Settings, url: str, chain_id: int, keys: DemoKeys, member_link: str) -> None:
    gtin = DEMO_GTINS[0]
    checkout, program = keys.checkout, keys.program
    console.print(f"""
[bold]Credance is running[/]
  API            {url}  (docs: {url}/docs)
  Chain          {settings.resolved_rpc_url}  ({settings.node}, chain id {chain_id}, {settings.resolved_evm_version})
  Database       {make_url(settings.resolved_database_url).render_as_string(hide_password=True)}
  Metrics        {url}/metrics   readiness {url}/readyz
  Verify a demo item   {url}/01/{gtin}/21/SN0001
  Console        {url}/console/  (sign in with the admin key below, or the brand key)
  Member pages   {member_link}
                 (the demo member's one-time sign-in link; another: credance loyalty sign-in-link {DEMO_CUSTOMER})
  Logs           {settings.resolved_home / "logs"}

  admin key             {keys.admin}
  checkout key ({DEMO_STORE})  {checkout}
  program key (the store's retailer)  {program}
  brand key ({DEMO_BRAND})   {keys.brand}

  Try:  curl -s -X POST {url}/v1/purchases -H 'Authorization: Bearer {checkout}' \\
          -H 'Content-Type: application/json' \\
          -d '{{"order_id":"A-1","customer_id":"{DEMO_CUSTOMER}","store_id":"{DEMO_STORE}","currency":"USD",
               "lines":[{{"sku":"COFFEE","quantity":2,"unit_price":"12.50"}}]}}'
        curl -s {url}/v1/customers/{DEMO_CUSTOMER}/balance -H 'Authorization: Bearer {checkout}'
  Spending needs the customer's consent: the retailer's backend issues a customer token
        curl -s -X POST {url}/v1/customers/{DEMO_CUSTOMER}/tokens -H 'Authorization: Bearer {program}' \\
          -H 'Content-Type: application/json' -d '{{}}'
        (then redeem, transfer or claim a wallet with `Authorization: Bearer cust_…`, or ask for a
        one-time till code: POST {url}/v1/customers/{DEMO_CUSTOMER}/till-codes)
Press Ctrl-C to stop (the chain and the database are kept in {settings.resolved_home}).
""")
