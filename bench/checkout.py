"""Checkout benchmark: purchases through HTTP, awards batched on chain, mirrored back to SQL.

Starts its own Anvil, deploys, migrates a fresh SQLite database in a temporary CREDANCE_HOME,
runs `credance serve`, `credance sender` and `credance indexer` as separate processes on free
loopback ports, enrols the customers (so the measured awards are for returning customers), then
drives POST /v1/purchases from a multi-process keep-alive client for --duration seconds.

Reports purchases/s accepted, p50/p99 accept latency, awards/s confirmed (on chain and mirrored
in SQL) during the load, the backlog, p99 accept-to-confirmed, gas per award; then the same for
a naive baseline in the same run: one `transact` + wait for the receipt per purchase. Prints a
table and writes JSON (default bench/out/checkout.json). Everything stops at the end.

    python bench/checkout.py --help
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from _processes import free_port, group_cpu_seconds  # noqa: E402  (bench/ is on sys.path)
from loadgen import percentile, run_load  # noqa: E402
from sqlalchemy import text  # noqa: E402
from web3 import Web3  # noqa: E402

from backend.chain.anvil import start_anvil, stop_anvil  # noqa: E402
from backend.chain.bootstrap import ensure_deployment  # noqa: E402
from backend.chain.client import connect  # noqa: E402
from backend.chain.keys import platform_keys  # noqa: E402
from backend.cli.seed import seed_demo  # noqa: E402
from backend.db.engine import make_engine  # noqa: E402
from backend.db.migrate import upgrade  # noqa: E402
from backend.settings import PROJECT_ROOT, Settings  # noqa: E402

RUN_PREFIX = "bench"


def order_body(tag: str, customers: int) -> Any:
    """A picklable factory of unique purchases of returning customers."""

    def body(conn: int, seq: int) -> bytes:
        rnd = random.Random(conn * 1_000_003 + seq)
        order = {
            "order_id": f"{tag}-{conn}-{seq}",
            "customer_id": f"member-{rnd.randrange(customers)}",
            "store_id": "demo-store",
            "currency": "USD",
            "lines": [{"sku": "COFFEE", "quantity": rnd.randint(1, 3), "unit_price": "12.50"}],
        }
        return json.dumps(order, separators=(",", ":")).encode()

    return body


class Platform:
    """Anvil + contracts + database + the three services, in a temporary home."""

    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.args = args
        self.home = home
        self.api_port = free_port()
        self.settings = Settings(
            home=home,
            port=self.api_port,
            chain_port=free_port(),
            deployments_dir=home / "deployments",
            database_url=f"sqlite:///{home / 'credance.db'}",
            sender_batch_size=args.batch_size,
            sender_max_delay_ms=args.max_delay_ms,
        )
        self.processes: list[subprocess.Popen[bytes]] = []

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "CREDANCE_HOME": str(self.home),
            "CREDANCE_PORT": str(s.port),
            "CREDANCE_CHAIN_PORT": str(s.chain_port),
            "CREDANCE_CHAIN_ID": "31337",
            "CREDANCE_DATABASE_URL": s.resolved_database_url,
            "CREDANCE_DEPLOYMENTS_DIR": str(s.deployments_dir),
            "CREDANCE_SENDER_BATCH_SIZE": str(s.sender_batch_size),
            "CREDANCE_SENDER_MAX_DELAY_MS": str(s.sender_max_delay_ms),
            "CREDANCE_LOG_LEVEL": "WARNING",
            "CREDANCE_LOG_FORMAT": "json",
        }

    def start(self) -> str:
        s = self.settings
        start_anvil(self.home, s.chain_port, PROJECT_ROOT / "node_modules", persist=False)
        ensure_deployment(s, force=True)
        upgrade(s.resolved_database_url)
        self.engine = make_engine(s.resolved_database_url)
        keys = seed_demo(self.engine, s, 31337)
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        services = {
            "api": ["serve", "--workers", str(self.args.api_workers)],
            "sender": ["sender"],
            "indexer": ["indexer"],
        }
        for name, command in services.items():
            with (logs / f"{name}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "backend.cli.main", *command],
                        env=self.env(),
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 180  # as `make run`: importing the app takes long on a loaded machine
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.api_port}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start; see {logs / 'api.log'}")
            time.sleep(0.2)
        return keys.checkout

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each service (API workers included) and by Anvil."""
        names = ["api", "sender", "indexer"]
        usage = {name: group_cpu_seconds(p.pid) for name, p in zip(names, self.processes, strict=True)}
        anvil_pid = int((self.home / "chain" / "anvil.pid").read_text())
        usage["anvil"] = group_cpu_seconds(os.getpgid(anvil_pid))
        return usage

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if hasattr(self, "engine"):
            self.engine.dispose()
        stop_anvil(self.home)

    # -- SQL views of progress -----------------------------------------------------------

    def counts(self, tag: str) -> tuple[int, int]:
        """(accepted, confirmed) purchases of this run."""
        with self.engine.connect() as db:
            row = db.execute(
                text(
                    "SELECT count(*), sum(CASE WHEN o.status = 'confirmed' THEN 1 ELSE 0 END) "
                    "FROM purchases p JOIN operations o ON o.id = p.operation_id WHERE p.order_id LIKE :tag"
                ),
                {"tag": f"{tag}-%"},
            ).one()
        return int(row[0]), int(row[1] or 0)

    def timings(self, tag: str) -> list[tuple[int, int | None, str | None]]:
        """(accepted at, confirmed at, transaction) in microseconds since the epoch, per purchase."""
        with self.engine.connect() as db:
            rows = db.execute(
                text(
                    "SELECT p.created_at, o.confirmed_at, o.tx_hash FROM purchases p "
                    "JOIN operations o ON o.id = p.operation_id WHERE p.order_id LIKE :tag"
                ),
                {"tag": f"{tag}-%"},
            ).all()
        return [(int(r[0]), None if r[1] is None else int(r[1]), r[2]) for r in rows]

    def wait_confirmed(self, tag: str, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            accepted, confirmed = self.counts(tag)
            if accepted == confirmed:
                break
            time.sleep(0.25)
        return time.monotonic() - started


def sample_backlog(bench: Platform, tag: str, stop: threading.Event, samples: list[dict[str, float]]) -> None:
    while not stop.wait(1.0):
        accepted, confirmed = bench.counts(tag)
        samples.append({"t": time.time(), "accepted": accepted, "confirmed": confirmed})


def gas_per_award(w3: Web3, timings: list[tuple[int, int | None, str | None]]) -> tuple[float, int]:
    hashes = {tx for _, _, tx in timings if tx}
    gas = sum(int(w3.eth.get_transaction_receipt(tx)["gasUsed"]) for tx in hashes)  # type: ignore[arg-type]
    return (gas / len(timings) if timings else float("nan")), len(hashes)


def measure_optimised(bench: Platform, key: str, args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    # Warm-up: every customer earns once (enrolled, balance slot written) and the code paths run.
    connections = min(args.connections, args.customers)
    warm = run_load(
        bench.api_port,
        "/v1/purchases",
        headers,
        _enrol_body(args.customers, connections),
        connections=connections,
        processes=args.client_processes,
        duration=120,
        limit_per_connection=-(-args.customers // connections),
    )
    bench.wait_confirmed("enrol", timeout=120)

    tag = RUN_PREFIX
    samples: list[dict[str, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_backlog, args=(bench, tag, stop, samples))
    sampler.start()
    load_avg_before = os.getloadavg()
    cpu_before, client_before = bench.cpu(), os.times()
    result = run_load(
        bench.api_port,
        "/v1/purchases",
        headers,
        order_body(tag, args.customers),
        connections=args.connections,
        processes=args.client_processes,
        duration=args.duration,
    )
    load_avg = os.getloadavg()
    accepted_at_end, confirmed_at_end = bench.counts(tag)
    drain = bench.wait_confirmed(tag, timeout=args.drain_timeout)
    cpu_after, client_after = bench.cpu(), os.times()
    # CPU cost per purchase, load and drain included: independent of what else runs on the
    # machine, unlike the rates. 2 cores / that cost = what a quiet 2-core machine could do.
    cpu_ms = {name: (cpu_after[name] - cpu_before[name]) * 1000 for name in cpu_after}
    cpu_ms["client"] = (
        client_after.children_user
        + client_after.children_system
        - client_before.children_user
        - client_before.children_system
    ) * 1000
    stop.set()
    sampler.join()

    window = result.finished - result.started
    timings = bench.timings(tag)
    start_us, end_us = result.started * 1e6, result.finished * 1e6
    confirmed_in_window = sum(1 for _, c, _ in timings if c is not None and start_us <= c <= end_us)
    to_confirm = [(c - a) / 1e6 for a, c, _ in timings if c is not None]
    gas, transactions = gas_per_award(connect(bench.settings.resolved_rpc_url), timings)
    accepted = len(result.latencies)
    cpu_per_purchase = {name: ms / accepted for name, ms in cpu_ms.items()} if accepted else {}
    server_ms = sum(v for k, v in cpu_per_purchase.items() if k != "client")
    return {
        "cpu_ms_per_purchase": cpu_per_purchase,
        "server_cpu_ms_per_purchase": server_ms,
        "quiet_2_core_estimate_per_s": 2000 / server_ms if server_ms else float("nan"),
        "warmup_purchases": len(warm.latencies),
        "connections": args.connections,
        "duration_s": round(window, 2),
        "accepted": accepted,
        "non_200": {str(k): v for k, v in result.statuses.items() if k != 200},
        "errors": result.errors,
        "accepted_per_s": accepted / window,
        "accept_p50_ms": percentile(result.latencies, 50) * 1000,
        "accept_p99_ms": percentile(result.latencies, 99) * 1000,
        "confirmed_per_s_during_load": confirmed_in_window / window,
        "backlog_at_end_of_load": accepted_at_end - confirmed_at_end,
        "backlog_max": max((s["accepted"] - s["confirmed"] for s in samples), default=0),
        "drain_after_load_s": round(drain, 2),
        "confirmed_total": len(to_confirm),
        "accept_to_confirmed_p50_s": percentile(to_confirm, 50),
        "accept_to_confirmed_p99_s": percentile(to_confirm, 99),
        "gas_per_award": gas,
        "award_transactions": transactions,
        "awards_per_transaction": accepted / transactions if transactions else float("nan"),
        "load_average_before": load_avg_before,
        "load_average_after": load_avg,
    }


def _enrol_body(customers: int, connections: int) -> Any:
    """Connection c enrols customers c, c + connections, c + 2·connections…: each one once."""

    def body(conn: int, seq: int) -> bytes:
        return json.dumps(
            {
                "order_id": f"enrol-{conn}-{seq}",
                "customer_id": f"member-{(seq * connections + conn) % customers}",
                "store_id": "demo-store",
                "currency": "USD",
                "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": "1.00"}],
            }
        ).encode()

    return body


def measure_naive(bench: Platform, args: argparse.Namespace) -> dict[str, Any]:
    """One `transact` (eth_sendTransaction, node-side signing) and one receipt wait per purchase."""
    w3 = connect(bench.settings.resolved_rpc_url)
    manifest = json.loads((bench.settings.deployments_dir / "31337.json").read_text())
    points_meta = manifest["contracts"]["LoyaltyPoints"]
    points = w3.eth.contract(address=Web3.to_checksum_address(points_meta["address"]), abi=points_meta["abi"])
    issuer = address_of_key(platform_keys(bench.settings, 31337).issuer)
    with bench.engine.connect() as db:
        addresses = [r[0] for r in db.execute(text("SELECT address FROM customers LIMIT 1000")).all()]
    latencies: list[float] = []
    gas = 0
    started = time.perf_counter()
    deadline = time.monotonic() + args.baseline_duration
    n = 0
    while time.monotonic() < deadline and n < args.baseline_count:
        n += 1
        t0 = time.perf_counter()
        award = (Web3.to_checksum_address(addresses[n % len(addresses)]), 10**12 + n, 1, 12, os.urandom(32))
        tx = points.functions.awardBatch([award]).transact({"from": issuer})
        receipt = w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.01)
        latencies.append(time.perf_counter() - t0)
        gas += int(receipt["gasUsed"])
    elapsed = time.perf_counter() - started
    return {
        "concurrency": 1,
        "purchases": n,
        "duration_s": round(elapsed, 2),
        "purchases_per_s": n / elapsed,
        "latency_p50_ms": percentile(latencies, 50) * 1000,
        "latency_p99_ms": percentile(latencies, 99) * 1000,
        "gas_per_award": gas / n if n else float("nan"),
    }


def address_of_key(key: str) -> str:
    from eth_account import Account

    return str(Account.from_key(key).address)


def table(optimised: dict[str, Any], naive: dict[str, Any]) -> str:
    rows = [
        ("purchases/s accepted", f"{optimised['accepted_per_s']:,.0f}", f"{naive['purchases_per_s']:,.1f}"),
        ("accept latency p50 (ms)", f"{optimised['accept_p50_ms']:.1f}", f"{naive['latency_p50_ms']:.1f}"),
        ("accept latency p99 (ms)", f"{optimised['accept_p99_ms']:.1f}", f"{naive['latency_p99_ms']:.1f}"),
        (
            "awards/s confirmed during load",
            f"{optimised['confirmed_per_s_during_load']:,.0f}",
            f"{naive['purchases_per_s']:,.1f}",
        ),
        ("backlog at end of load / max", f"{optimised['backlog_at_end_of_load']} / {optimised['backlog_max']}", "0"),
        (
            "accept→confirmed p99 (s)",
            f"{optimised['accept_to_confirmed_p99_s']:.2f}",
            f"{naive['latency_p99_ms'] / 1000:.2f}",
        ),
        ("gas per award", f"{optimised['gas_per_award']:,.0f}", f"{naive['gas_per_award']:,.0f}"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':{width}}  {'batched':>12}  {'naive':>12}"]
    lines += [f"{label:{width}}  {a:>12}  {b:>12}" for label, a, b in rows]
    ratio = optimised["accepted_per_s"] / naive["purchases_per_s"] if naive["purchases_per_s"] else float("nan")
    lines.append(f"{'ratio (accepted/s)':{width}}  {ratio:>12.1f}x")
    costs = ", ".join(f"{name} {ms:.2f}" for name, ms in optimised["cpu_ms_per_purchase"].items())
    lines.append(f"CPU ms per purchase: {costs}")
    lines.append(
        f"server CPU {optimised['server_cpu_ms_per_purchase']:.2f} ms/purchase → a quiet 2-core machine could accept "
        f"≈{optimised['quiet_2_core_estimate_per_s']:,.0f}/s (estimate: 2 cores / CPU cost, client not counted)"
    )
    return "\n".join(lines)


@contextlib.contextmanager
def temporary_home(keep: bool) -> Iterator[Path]:
    directory = tempfile.mkdtemp(prefix="credance-bench-")
    try:
        yield Path(directory)
    finally:
        if not keep:
            import shutil

            shutil.rmtree(directory, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (default 20)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--client-processes", type=int, default=2, help="load generator processes (default 2)")
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    parser.add_argument("--customers", type=int, default=2000, help="returning customers (default 2000)")
    parser.add_argument("--batch-size", type=int, default=256, help="awards per awardBatch (default 256)")
    parser.add_argument("--max-delay-ms", type=int, default=200, help="longest wait to fill a batch (default 200)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="max wait for the backlog after load")
    parser.add_argument("--baseline-duration", type=float, default=10.0, help="seconds of naive baseline")
    parser.add_argument("--baseline-count", type=int, default=1000, help="max naive purchases")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "checkout.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (logs, database)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with temporary_home(args.keep) as home:
        bench = Platform(args, home)
        try:
            print(f"starting Anvil, contracts, API ({args.api_workers} workers), sender, indexer in {home}")
            key = bench.start()
            print(f"load: {args.connections} connections from {args.client_processes} processes, {args.duration:.0f} s")
            optimised = measure_optimised(bench, key, args)
            print(f"naive baseline: transact + wait per purchase, up to {args.baseline_duration:.0f} s")
            naive = measure_naive(bench, args)
        finally:
            bench.stop()
    report = {
        "benchmark": "checkout",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "batched": optimised,
        "naive": naive,
        "ratio_accepted_per_s": optimised["accepted_per_s"] / naive["purchases_per_s"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(table(optimised, naive))
    print(f"load average (1/5/15 min) during the run: {optimised['load_average_after']}")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
