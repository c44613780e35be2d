"""Python work per purchase at the checkout, counted in opcodes: this tree against a baseline commit.

CPU seconds per purchase move with whatever else the machine runs (two runs of the same commit
differed by 20 % on the shared 2-core machine). The number of Python opcodes the API process
executes to accept a purchase does not: this benchmark counts them. It starts, for each tree (the
baseline commit checked out in a temporary worktree, then this one), Anvil, the contracts, a fresh
SQLite database and ``credance serve`` (one process, under ``bench/_opcode_tracer.py``), enrols
the customers, then counts every opcode of every thread while ``--purchases`` purchases are
posted from ``--connections`` keep-alive connections (the client of ``bench/checkout.py``).

C code (SQLite, orjson, the HTTP parser) is not counted: the figure compares Python paths, which
is where the checkout's code changes. Prints a table (totals and the functions that changed most)
and writes ``bench/out/checkout_cost.json``.

    python bench/checkout_cost.py --baseline 23960e4
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BEFORE_ISSUE_12 = "23960e4"  # main before the architecture work of issue 12
CUSTOMERS = 200


def _order(tag: str, connections: int) -> Any:
    def body(conn: int, seq: int) -> bytes:
        rnd = random.Random(conn * 1_000_003 + seq)
        customer = (seq * connections + conn) % CUSTOMERS if tag == "enrol" else rnd.randrange(CUSTOMERS)
        order = {
            "order_id": f"{tag}-{conn}-{seq}",
            "customer_id": f"member-{customer}",
            "store_id": "demo-store",
            "currency": "USD",
            "lines": [{"sku": "COFFEE", "quantity": rnd.randint(1, 3), "unit_price": "12.50"}],
        }
        return json.dumps(order, separators=(",", ":")).encode()

    return body


def child(tree: Path, out: Path, purchases: int, connections: int) -> dict[str, Any]:
    """One tree: its own modules (PYTHONPATH), this tree's load generator."""
    sys.path.insert(0, str(BENCH))
    import httpx
    from _processes import free_port
    from loadgen import run_load

    from backend.chain.anvil import start_anvil, stop_anvil
    from backend.chain.bootstrap import ensure_deployment
    from backend.cli.seed import seed_demo
    from backend.db.engine import make_engine
    from backend.db.migrate import upgrade
    from backend.settings import PROJECT_ROOT, Settings

    assert tree == PROJECT_ROOT, f"{PROJECT_ROOT} is not {tree}: PYTHONPATH must name the tree"
    home = Path(tempfile.mkdtemp(prefix="credance-cost-"))
    s = Settings(home=home, port=free_port(), chain_port=free_port(), deployments_dir=home / "deployments")
    env = {
        **os.environ,
        "CREDANCE_HOME": str(home),
        "CREDANCE_PORT": str(s.port),
        "CREDANCE_CHAIN_PORT": str(s.chain_port),
        "CREDANCE_CHAIN_ID": "31337",
        "CREDANCE_DATABASE_URL": s.resolved_database_url,
        "CREDANCE_DEPLOYMENTS_DIR": str(s.deployments_dir),
        "CREDANCE_LOG_LEVEL": "WARNING",
    }
    start_anvil(home, s.chain_port, PROJECT_ROOT / "node_modules", persist=False)
    api: subprocess.Popen[bytes] | None = None
    try:
        ensure_deployment(s, force=True)
        upgrade(s.resolved_database_url)
        engine = make_engine(s.resolved_database_url)
        key = seed_demo(engine, s, 31337).checkout
        with (home / "api.log").open("wb") as log:
            api = subprocess.Popen(
                [sys.executable, str(BENCH / "_opcode_tracer.py"), str(out), str(tree)],
                env=env,
                cwd=tree,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 300
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{s.port}/healthz", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline or api.poll() is not None:
                raise RuntimeError(f"the API did not start: {home / 'api.log'}")
            time.sleep(0.5)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

        def load(tag: str, per_connection: int) -> dict[int, int]:
            result = run_load(
                s.port, "/v1/purchases", headers, _order(tag, connections), connections, 1, 1800, per_connection
            )
            return result.statuses

        load("enrol", -(-CUSTOMERS // connections))  # every customer once: enrolled, code paths warm
        load("warm", 10)
        os.kill(api.pid, signal.SIGUSR1)
        time.sleep(0.5)
        statuses = load("bench", purchases // connections)
        os.kill(api.pid, signal.SIGUSR2)
        for _ in range(100):
            if out.exists() and out.stat().st_size:
                break
            time.sleep(0.2)
        time.sleep(1)
        counts: dict[str, int] = json.loads(out.read_text())
        accepted = statuses.get(200, 0)
        with engine.connect() as db:
            from sqlalchemy import text

            batches = db.execute(
                text("SELECT count(DISTINCT created_at) FROM purchases WHERE order_id LIKE 'bench-%'")
            ).scalar_one()
        return {
            "accepted": accepted,
            "statuses": {str(k): v for k, v in statuses.items()},
            "batches": batches,
            "opcodes_per_purchase": sum(counts.values()) / accepted,
            "by_function": {name: count / accepted for name, count in counts.items()},
        }
    finally:
        if api is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(api.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                api.wait(30)
        stop_anvil(home)


@contextlib.contextmanager
def baseline_tree(ref: str) -> Any:
    """``ref`` checked out beside this tree, with this tree's environment and its own contracts."""
    where = Path(tempfile.mkdtemp(prefix="credance-baseline-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), ref], check=True)
    try:
        for shared in (".venv", "node_modules"):
            (where / shared).symlink_to(ROOT / shared)
        env = {**os.environ, "PYTHONPATH": str(where)}
        subprocess.run([sys.executable, "-m", "backend.cli.main", "build"], cwd=where, env=env, check=True)
        yield where
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False)


def measure(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "counts.json"
        command = [sys.executable, __file__, "--child", str(tree), str(out), str(args.purchases), str(args.connections)]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        done = subprocess.run(command, cwd=tree, env=env, check=True, capture_output=True, text=True)
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        tree, out, purchases, connections = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(child(tree, out, purchases, connections)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline",
        default=BEFORE_ISSUE_12,
        help="git ref to compare with (default: before issue 12)",
    )
    parser.add_argument("--purchases", type=int, default=400)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "checkout_cost.json")
    args = parser.parse_args()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    with baseline_tree(args.baseline) as baseline:
        before = measure(baseline, args)
    after = measure(ROOT, args)
    change = after["opcodes_per_purchase"] / before["opcodes_per_purchase"] - 1
    print(f"{'tree':<24}{'opcodes / purchase':>20}{'purchases':>11}{'batches':>9}")
    for name, run in ((f"baseline {args.baseline}", before), (f"this tree {commit.stdout.strip()}", after)):
        print(f"{name:<24}{run['opcodes_per_purchase']:>20,.0f}{run['accepted']:>11}{run['batches']:>9}")
    print(f"change: {change:+.1%}\nfunctions that changed most (opcodes a purchase):")
    deltas = collections.Counter(after["by_function"])
    deltas.subtract(before["by_function"])
    for name, delta in sorted(deltas.items(), key=lambda item: -abs(item[1]))[:20]:
        print(f"  {delta:+8.1f}  {name}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "baseline": {"ref": args.baseline, **{k: v for k, v in before.items() if k != "by_function"}},
        "this_tree": {"commit": commit.stdout.strip(), **{k: v for k, v in after.items() if k != "by_function"}},
        "change": change,
        "largest_changes": dict(sorted(deltas.items(), key=lambda item: -abs(item[1]))[:40]),
        "load_average": os.getloadavg(),
    }
    args.out.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
