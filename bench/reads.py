"""Read, mixed and overload benchmark (issue 13): balance and history reads, checkout p99 from an
external load generator, a mixed constant-rate workload, PostgreSQL with several workers, and an
overload that must be shed — each against a naive baseline measured in the same run.

For each database (SQLite with 2 API workers, PostgreSQL with 4 as ``make run-postgres``) it starts
its own stack (``bench/stack.py``): Anvil, contracts, database, API, sender, indexer, and beside
the API a **naive API** on the same database (``bench/_naive_reads.py``: the balance and history
routes as they were — sync routes, a session per request, the ORM, about ten queries a balance —
and no admission limits). Then, with the load generator of ``bench/loadgen.py`` (separate
processes, keep-alive connections):

* ``balance``: 32 connections, closed loop, random customers among 2,000; API vs naive.
* ``history``: the same with customers that have at least 50 mirrored entries (``limit=50``).
* ``servers``: balance reads through the same API behind uvicorn with asyncio + h11 (the
  baseline), uvicorn with uvloop + httptools, ``credance serve`` (uvloop + httptools with the
  protocol that answers refusals and ``/healthz`` itself; what every other case runs) and granian
  if installed.
* ``checkout``: 32 connections closed loop (the peak), then a constant 1,500/s (p99 with
  coordinated omission corrected); the naive API's checkout in the same run.
* ``mixed``: checkout 1,000/s and balance reads 2,000/s at once, constant rate; API vs naive.
* ``overload``: 4x the measured checkout peak, constant rate, 1,024 connections (enough that
  the client keeps the rate while admitted requests are in flight), 30 s, with
  ``/healthz`` probed every 20 ms; then how long until service is normal again, and whether every
  accepted purchase is recorded and confirmed on chain. Baseline: the naive API (no shedding).

During every load ``/healthz`` is probed; the load average is recorded before and after.
Writes ``bench/out/reads.json`` with ``"figures"`` (each with its baseline) for bench/report.py.

    python bench/reads.py --help
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from _processes import memory_stalls  # noqa: E402
from loadgen import LoadResult, percentile, run_load, run_rate, run_requests  # noqa: E402
from stack import Purchases, Reads, Stack  # noqa: E402

NAIVE_ENV = {  # the naive API: no admission limits (as before issue 13)
    f"CREDANCE_ADMIT_{name}": "100000" for name in ("CHECKOUT", "READS", "PUBLIC", "BULK", "OTHER", "HEALTH")
}


class HealthProbe:
    """``GET /healthz`` every ``interval`` seconds on its own connection, timed."""

    def __init__(self, port: int, interval: float = 0.02) -> None:
        self.port, self.interval = port, interval
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30) as client:
            while not self._stop.wait(self.interval):
                started = time.perf_counter()
                try:
                    ok = client.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.latencies.append(time.perf_counter() - started)
                self.failures += not ok

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, Any]:
        return {
            "probes": len(self.latencies),
            "failures": self.failures,
            "p50_ms": ms(percentile(self.latencies, 50)),
            "p99_ms": ms(percentile(self.latencies, 99)),
            "max_ms": ms(max(self.latencies, default=float("nan"))),
        }


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def summary(result: LoadResult) -> dict[str, Any]:
    window = max(result.finished - result.started, 1e-9)
    ok = len(result.latencies)
    return {
        "ok": ok,
        "per_s": round(ok / window, 1),
        "p50_ms": ms(percentile(result.latencies, 50)),
        "p99_ms": ms(percentile(result.latencies, 99)),
        "max_ms": ms(max(result.latencies, default=float("nan"))),
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "errors": result.errors,
        "refused": len(result.refused_latencies),
        "refused_p99_ms": ms(percentile(result.refused_latencies, 99)),
        "refused_max_ms": ms(max(result.refused_latencies, default=float("nan"))),
        "refused_service_p99_ms": ms(percentile(result.refused_service, 99)),
        "refused_without_retry_after": result.retry_after_missing,
        "late": result.late,
        "unanswered": result.unanswered,
        "duration_s": round(window, 2),
    }


def measured(label: str, port: int, load: Callable[[], LoadResult]) -> dict[str, Any]:
    load_before, stalls_before = os.getloadavg(), memory_stalls()
    with HealthProbe(port) as probe:
        result = load()
    out = {**summary(result), "healthz": probe.summary(), "load_average": [load_before, os.getloadavg()]}
    # Direct reclaim or major faults during the load stall whichever process hits them: a p99
    # that moves between runs of the same code is read against these.
    out["memory_stalls"] = {name: count - stalls_before.get(name, 0) for name, count in memory_stalls().items()}
    health = out["healthz"]["p99_ms"]
    print(
        f"  {label}: {out['per_s']:,.0f}/s p50 {out['p50_ms']} ms p99 {out['p99_ms']} ms, statuses "
        f"{out['statuses']}, errors {out['errors']}, /healthz p99 {health} ms, memory stalls "
        f"{out['memory_stalls']}",
        flush=True,
    )
    return out


# -- setup ------------------------------------------------------------------------------------


def populate(stack: Stack, keys: dict[str, str], customers: int, history_customers: int, entries: int) -> None:
    """Every customer earns once; ``history_customers`` of them earn ``entries`` times in all."""
    members = [f"member-{i}" for i in range(customers)]
    started = time.monotonic()
    connections = 32

    class Once:  # connection c enrols customers c, c + connections, c + 2 x connections…: each once
        def __call__(self, conn: int, seq: int) -> bytes:
            index = seq * connections + conn
            order = {
                "order_id": f"enrol-{index}",
                "customer_id": members[index % customers],
                "store_id": "demo-store",
                "currency": "USD",
                "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": "1.00"}],
            }
            return json.dumps(order).encode()

    run_load(
        stack.api_port,
        "/v1/purchases",
        {"Authorization": f"Bearer {keys['checkout']}", "Content-Type": "application/json"},
        Once(),
        connections=connections,
        processes=2,
        duration=300,
        limit_per_connection=-(-customers // connections),
    )
    if history_customers:
        rich = members[:history_customers]
        run_requests(
            stack.api_port,
            Purchases("hist", keys["checkout"], rich),
            connections=connections,
            processes=2,
            duration=300,
            limit_per_connection=-(-(history_customers * (entries + 5)) // connections),
        )
    drained = stack.wait_confirmed(300)
    print(f"  populated in {time.monotonic() - started:.0f} s (confirmed {drained:.1f} s after the last purchase)")


# -- cases --------------------------------------------------------------------------------------


def closed_loop(port: int, factory: Any, args: argparse.Namespace) -> Callable[[], LoadResult]:
    """``args.connections`` connections, each sending its next request when answered."""
    return partial(
        run_requests,
        port,
        factory,
        connections=args.connections,
        processes=args.client_processes,
        duration=args.duration,
    )


def case_reads(
    stack: Stack, keys: dict[str, str], args: argparse.Namespace, kind: str, customers: list[str], key: str
) -> dict[str, Any]:
    query = "?limit=50" if kind == "history" else ""
    results = {}
    for label, port in (("api", stack.api_port), ("naive", stack.naive_port)):
        factory = Reads(kind, key, customers, query)
        results[label] = measured(f"{kind} {label}", port, closed_loop(port, factory, args))
    return results


def case_servers(stack: Stack, keys: dict[str, str], args: argparse.Namespace, customers: list[str]) -> dict[str, Any]:
    """The same API and workers behind each HTTP server, balance reads, one after the other:
    uvicorn with asyncio + h11 (the baseline), with uvloop + httptools, ``credance serve`` (the
    latter with the protocol that answers refusals and /healthz itself), and granian when it is
    installed."""
    results: dict[str, Any] = {}
    servers = ["uvicorn-h11", "uvicorn", "credance"] + (["granian"] if importlib.util.find_spec("granian") else [])
    for server in servers:
        port = stack.api_port if server == stack.server else stack.spawn_api(f"api-{server}", server)
        factory = Reads("balance", keys["checkout"], customers)
        results[server] = measured(f"balance via {server}", port, closed_loop(port, factory, args))
        if port != stack.api_port:
            stack.stop_process(f"api-{server}")
    return results


def case_checkout(stack: Stack, keys: dict[str, str], args: argparse.Namespace, customers: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for label, port in (("api", stack.api_port), ("naive", stack.naive_port)):
        peak = Purchases(f"peak-{label}", keys["checkout"], customers)
        cpu_before = stack.cpu()
        results[f"peak_{label}"] = measured(f"checkout peak {label}", port, closed_loop(port, peak, args))
        # CPU per purchase of each process: unlike the rates, it hardly depends on the machine's load.
        cpu_after, accepted = stack.cpu(), max(results[f"peak_{label}"]["ok"], 1)
        results[f"peak_{label}"]["cpu_ms_per_purchase"] = {
            name: round((cpu_after[name] - cpu_before.get(name, 0.0)) * 1000 / accepted, 3) for name in cpu_after
        }
        stack.wait_confirmed(120)
        steady = Purchases(f"rate-{label}", keys["checkout"], customers)
        at_rate = partial(
            run_rate,
            port,
            steady,
            args.checkout_rate,
            connections=64,
            processes=args.client_processes,
            duration=args.duration,
        )
        results[f"rate_{label}"] = measured(f"checkout {args.checkout_rate:.0f}/s {label}", port, at_rate)
        stack.wait_confirmed(120)
    return results


def case_mixed(stack: Stack, keys: dict[str, str], args: argparse.Namespace, customers: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for label, port in (("api", stack.api_port), ("naive", stack.naive_port)):
        start_at = time.time() + 1.0
        found: dict[str, LoadResult] = {}
        workloads = {
            "checkout": (Purchases(f"mixed-{label}", keys["checkout"], customers), args.mixed_checkout),
            "balance": (Reads("balance", keys["checkout"], customers), args.mixed_balance),
        }
        load_before = os.getloadavg()
        with HealthProbe(port) as probe:
            threads = [
                threading.Thread(target=_rate_into, args=(found, name, port, factory, rate, args.duration, start_at))
                for name, (factory, rate) in workloads.items()
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        results[label] = {
            "checkout": summary(found["checkout"]),
            "balance": summary(found["balance"]),
            "healthz": probe.summary(),
            "load_average": [load_before, os.getloadavg()],
        }
        r = results[label]
        c, b = r["checkout"], r["balance"]
        print(
            f"  mixed {label}: checkout {c['per_s']:,.0f}/s p99 {c['p99_ms']} ms, balance {b['per_s']:,.0f}/s "
            f"p99 {b['p99_ms']} ms, /healthz p99 {r['healthz']['p99_ms']} ms",
            flush=True,
        )
        stack.wait_confirmed(120)
    return results


def _rate_into(
    found: dict[str, LoadResult], name: str, port: int, factory: Any, rate: float, duration: float, start_at: float
) -> None:
    found[name] = run_rate(port, factory, rate, connections=48, processes=1, duration=duration, start_at=start_at)


def case_overload(
    stack: Stack, keys: dict[str, str], args: argparse.Namespace, customers: list[str], sustainable: float
) -> dict[str, Any]:
    rate = 4 * sustainable
    results: dict[str, Any] = {"sustainable_per_s": round(sustainable), "offered_per_s": round(rate)}
    for label, port in (("api", stack.api_port), ("naive", stack.naive_port)):
        tag = f"over-{label}"
        factory = Purchases(tag, keys["checkout"], customers)
        out = measured(
            f"overload {rate:,.0f}/s {label}",
            port,
            partial(
                run_rate,
                port,
                factory,
                rate,
                connections=args.overload_connections,
                processes=args.client_processes,
                duration=args.overload_duration,
            ),
        )
        out["recovery_s"] = recovery(port, keys["checkout"], customers, f"after-{label}")
        # Nothing accepted is lost: every purchase answered 200 is recorded, and confirmed on chain.
        out["drain_s"] = round(stack.wait_confirmed(600), 2)
        recorded = stack.scalar("SELECT count(*) FROM purchases WHERE order_id LIKE :t", t=f"{tag}-%")
        confirmed = stack.scalar(
            "SELECT count(*) FROM purchases p JOIN operations o ON o.id = p.operation_id "
            "WHERE p.order_id LIKE :t AND o.status = 'confirmed'",
            t=f"{tag}-%",
        )
        out.update({"accepted": out["ok"], "recorded": recorded, "confirmed": confirmed, "lost": out["ok"] - confirmed})
        print(
            f"  overload {label}: accepted {out['ok']}, recorded {recorded}, confirmed {confirmed}, "
            f"refused {out['refused']} (p99 {out['refused_p99_ms']} ms from due, {out['refused_service_p99_ms']} ms "
            f"from sent), recovery {out['recovery_s']} s",
            flush=True,
        )
        results[label] = out
    return results


def recovery(port: int, key: str, customers: list[str], tag: str, budget_s: float = 30.0) -> float:
    """Seconds from the end of the overload until a purchase is answered 200 within 50 ms,
    ten in a row."""
    factory = Purchases(tag, key, customers)
    started = time.perf_counter()
    streak_began = None
    streak = seq = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        while time.perf_counter() - started < budget_s:
            body = factory.body(0, seq)
            seq += 1
            sent = time.perf_counter()
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            response = client.post("/v1/purchases", content=body, headers=headers)
            if response.status_code == 200 and time.perf_counter() - sent <= 0.05:
                streak_began = sent if streak == 0 else streak_began
                streak += 1
            else:
                streak = 0
            if streak == 10 and streak_began is not None:
                return round(streak_began - started, 3)
    return float("nan")


# -- figures -----------------------------------------------------------------------------------


def figures(db: str, out: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    out = {name: value for name, value in out.items() if not (isinstance(value, dict) and "failed" in value)}

    def add(name: str, value: float, baseline: float, unit: str, higher: bool) -> None:
        found.append(
            {"name": f"{db}: {name}", "value": value, "baseline": baseline, "unit": unit, "higher_is_better": higher}
        )

    for kind in ("balance", "history"):
        if kind in out:
            api, naive = out[kind]["api"], out[kind]["naive"]
            add(f"{kind} reads, 32 connections", api["per_s"], naive["per_s"], "req/s", True)
            add(f"{kind} reads p99", api["p99_ms"], naive["p99_ms"], "ms", False)
    if "servers" in out:
        s = out["servers"]
        best = max((name for name in s if name != "uvicorn-h11"), key=lambda name: s[name]["per_s"])
        add(
            f"balance reads via {best} (baseline uvicorn asyncio+h11)",
            s[best]["per_s"],
            s["uvicorn-h11"]["per_s"],
            "req/s",
            True,
        )
    if "checkout" in out:
        c = out["checkout"]
        add("checkout peak, 32 connections", c["peak_api"]["per_s"], c["peak_naive"]["per_s"], "req/s", True)
        add("checkout peak p99", c["peak_api"]["p99_ms"], c["peak_naive"]["p99_ms"], "ms", False)
        add("checkout p99 at a constant rate", c["rate_api"]["p99_ms"], c["rate_naive"]["p99_ms"], "ms", False)
    if "mixed" in out:
        m = out["mixed"]
        add("mixed: checkouts served", m["api"]["checkout"]["per_s"], m["naive"]["checkout"]["per_s"], "req/s", True)
        add("mixed: balance reads served", m["api"]["balance"]["per_s"], m["naive"]["balance"]["per_s"], "req/s", True)
        add("mixed: checkout p99", m["api"]["checkout"]["p99_ms"], m["naive"]["checkout"]["p99_ms"], "ms", False)
        add("mixed: balance p99", m["api"]["balance"]["p99_ms"], m["naive"]["balance"]["p99_ms"], "ms", False)
    if "overload" in out:
        o = out["overload"]
        add("overload: /healthz p99", o["api"]["healthz"]["p99_ms"], o["naive"]["healthz"]["p99_ms"], "ms", False)
        add("overload: accepted p99", o["api"]["p99_ms"], o["naive"]["p99_ms"], "ms", False)
        add(
            "overload: p99 of a refusal from due (naive: of any answer)",
            o["api"]["refused_p99_ms"],
            o["naive"]["p99_ms"],
            "ms",
            False,
        )
        add(
            "overload: p99 of a refusal from sent (naive: of any answer)",
            o["api"]["refused_service_p99_ms"],
            o["naive"]["p99_ms"],
            "ms",
            False,
        )
        add("overload: recovery", o["api"]["recovery_s"], o["naive"]["recovery_s"], "s", False)
    return found


def sustainable(out: dict[str, Any], args: argparse.Namespace) -> float:
    """The checkout rate the overload multiplies: the peak measured in this run, else the target."""
    return float(out.get("checkout", {}).get("peak_api", {}).get("per_s") or args.checkout_rate)


def run_database(db: str, args: argparse.Namespace) -> dict[str, Any]:
    workers = args.sqlite_workers if db == "sqlite" else args.postgres_workers
    print(f"== {db}: API with {workers} workers ({args.server}) + naive API, sender, indexer", flush=True)
    api_env = dict(item.split("=", 1) for item in args.api_env)
    stack = Stack(db, workers, server=args.server, naive=True, env=api_env, naive_env=NAIVE_ENV)
    out: dict[str, Any] = {"workers": workers}
    try:
        keys = stack.start()
        populate(stack, keys, args.customers, args.history_customers, args.history_entries)
        members = [f"member-{i}" for i in range(args.customers)]
        rich = members[: args.history_customers]
        cases = set(args.cases.split(","))
        runs: dict[str, Callable[[], dict[str, Any]]] = {
            "balance": partial(case_reads, stack, keys, args, "balance", members, keys["checkout"]),
            "history": partial(case_reads, stack, keys, args, "history", rich, keys["admin"]),
            "servers": partial(case_servers, stack, keys, args, members),
            "checkout": partial(case_checkout, stack, keys, args, members),
            "mixed": partial(case_mixed, stack, keys, args, members),
            "overload": lambda: case_overload(stack, keys, args, members, sustainable(out, args)),
        }
        for name, case in runs.items():
            if name not in cases or (name == "history" and not rich):
                continue
            try:
                out[name] = case()
            except Exception as exc:  # one failed case must not lose the others' figures
                print(f"  {name} failed: {exc!r}", flush=True)
                out[name] = {"failed": repr(exc)}
    finally:
        stack.stop()
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite,postgres (default both)")
    parser.add_argument("--cases", default="balance,history,servers,checkout,mixed,overload")
    parser.add_argument("--postgres-cases", default="balance,checkout", help="cases run on PostgreSQL")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per load (default 15)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--sqlite-workers", type=int, default=2)
    parser.add_argument("--postgres-workers", type=int, default=4)
    parser.add_argument("--server", default="credance", choices=("credance", "uvicorn", "granian"))
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--history-customers", type=int, default=100)
    parser.add_argument("--history-entries", type=int, default=50)
    parser.add_argument("--checkout-rate", type=float, default=1500.0)
    parser.add_argument("--mixed-checkout", type=float, default=1000.0)
    parser.add_argument("--mixed-balance", type=float, default=2000.0)
    parser.add_argument("--overload-duration", type=float, default=30.0)
    parser.add_argument("--overload-connections", type=int, default=1024)
    parser.add_argument(
        "--api-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the API under test, e.g. CREDANCE_ADMIT_CHECKOUT=32 (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "reads.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {
        "benchmark": "reads",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "load_average_before": os.getloadavg(),
        "figures": [],
    }
    for db in args.databases.split(","):
        run_args = argparse.Namespace(**vars(args))
        if db == "postgres":
            run_args.cases = args.postgres_cases
        report[db] = run_database(db, run_args)
        report["figures"] += figures(db, report[db])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))  # what is measured so far survives a later failure
    report["load_average_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for figure in report["figures"]:
        print(f"{figure['name']}: {figure['value']:,} {figure['unit']} (naive {figure['baseline']:,})")
    print(f"load average before/after: {report['load_average_before']} / {report['load_average_after']}")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
