"""Python work per public verification answer, counted in opcodes: JSON, HTML and 304 answers.

The sibling of ``bench/checkout_cost.py`` for ``GET /01/{gtin}/21/{serial}``: CPU seconds per
answer move with the machine's load, the number of Python opcodes the API executes per answer
does not. It sets up the platform of ``bench/verification.py`` (Anvil, contracts, SQLite, items
with a history, every item on chain and every event anchored), then starts ``credance serve``
under ``bench/_opcode_tracer.py`` (one process) and counts every opcode of every thread while
``--connections`` connections, each from its own client network, ask for JSON answers (scans
recorded), HTML pages (scans recorded) and revalidations (``scan=false`` + ``If-None-Match``).
The chain services are stopped once everything is settled, and each tree starts from the same
copy of the database (judging an item's scans costs more the more scans it has).

With ``--baseline REF`` the same is counted first for the API of that commit (its ``backend``
unpacked from git, as ``bench/verification.py`` does), on the same database. C code (SQLite,
orjson, the HTTP parser, Jinja2's compiled templates are Python and *are* counted) is not
counted: ``py-spy`` shows it. Per-batch work (one transaction per batch of scans) is shared by
the batch: the batches are slower under counting, so compare counts of the same run settings.

    python bench/verification_cost.py --baseline main            # main, then the working tree
    python bench/verification_cost.py --baseline main --ref HEAD # two commits (edit away meanwhile)
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _processes import free_port
from _scanload import run_load
from verification import ROOT, Platform, baseline_tree, etags_of, parse_args, requests_for, warm

BENCH = ROOT / "bench"
RUNS = ("json", "html", "revalidate")


class TracedApi:
    """One API process of ``tree`` under the opcode tracer, on its own port."""

    def __init__(self, bench: Platform, tree: Path, scratch: Path) -> None:
        self.bench, self.tree, self.out = bench, tree, scratch / "counts.json"
        self.port = free_port()
        env = {**bench.env(self.port), "PYTHONPATH": str(tree)}
        with (bench.home / "logs" / f"traced-{self.port}.log").open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(BENCH / "_opcode_tracer.py"), str(self.out), str(tree)],
                env=env,
                cwd=tree,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        bench.processes[f"traced-{self.port}"] = self.process
        bench._wait_healthy(self.port, f"traced-{self.port}")

    def count(self, requests: Any, connections: int, duration: float) -> tuple[dict[str, int], dict[int, int]]:
        """Opcodes per function and the statuses, for the requests of one run."""
        self.out.unlink(missing_ok=True)
        os.kill(self.process.pid, signal.SIGUSR1)
        time.sleep(0.3)
        result = run_load(self.port, requests, connections=connections, processes=1, duration=duration)
        os.kill(self.process.pid, signal.SIGUSR2)
        for _ in range(150):
            if self.out.exists() and self.out.stat().st_size:
                break
            time.sleep(0.2)
        time.sleep(0.5)
        counts: dict[str, int] = json.loads(self.out.read_text())
        return counts, result.statuses


def snapshot(bench: Platform, into: Path) -> None:
    """The settled database, kept: each tree is counted from the same scans (judging an item's
    scans costs more the more it has, so the second tree must not see the first one's)."""
    for name in ("api", "sender", "indexer", "anchorer"):  # nothing moves while counting
        with contextlib.suppress(ProcessLookupError):
            os.killpg(bench.processes[name].pid, signal.SIGTERM)
        bench.processes[name].wait(30)
    bench.engine.dispose()
    with sqlite3.connect(bench.home / "credance.db") as source, sqlite3.connect(into) as copy:
        source.backup(copy)


def restore(bench: Platform, snapshot_file: Path) -> None:
    with sqlite3.connect(snapshot_file) as source, sqlite3.connect(bench.home / "credance.db") as target:
        source.backup(target)


def measure(bench: Platform, tree: Path, serials: list[str], args: argparse.Namespace) -> dict[str, Any]:
    restore(bench, bench.home / "settled.db")
    with tempfile.TemporaryDirectory() as scratch:
        api = TracedApi(bench, tree, Path(scratch))
        warm(api.port, serials)  # every answer and page cached: counted in steady state
        etags = etags_of(api.port, serials)
        requests = {
            "json": requests_for(serials, "json"),
            "html": requests_for(serials, "html"),
            "revalidate": requests_for(serials, "json", scan=False, etags=etags),
        }
        runs: dict[str, Any] = {}
        for name in RUNS:
            counts, statuses = api.count(requests[name], args.connections, args.duration)
            answered = statuses.get(200, 0) + statuses.get(304, 0)
            runs[name] = {
                "answered": answered,
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
                "opcodes_per_answer": sum(counts.values()) / answered,
                "by_function": {fn: n / answered for fn, n in counts.items()},
            }
        with contextlib.suppress(ProcessLookupError):
            os.killpg(api.process.pid, signal.SIGTERM)
        api.process.wait(30)
        return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git ref to count as well (its backend/, on the same database)")
    parser.add_argument("--ref", help="count this commit (its backend/) instead of the working tree")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--connections", type=int, default=16, help="connections, one client network each")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per counted run")
    parser.add_argument("--top", type=int, default=15, help="functions listed per run")
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "verification_cost.json")
    args = parser.parse_args()
    platform_args = parse_args(["--items", str(args.items), "--connections", str(args.connections)])
    home = Path(tempfile.mkdtemp(prefix="credance-verify-cost-"))
    bench = Platform(platform_args, home)
    trees: dict[str, dict[str, Any]] = {}
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    try:
        serials = bench.start()
        bench.wait_settled(timeout=300)
        snapshot(bench, home / "settled.db")
        if args.baseline:
            trees[f"baseline {args.baseline}"] = measure(
                bench, baseline_tree(args.baseline, home / "baseline"), serials, args
            )
        if args.ref:
            trees[args.ref] = measure(bench, baseline_tree(args.ref, home / "ref"), serials, args)
        else:
            trees[f"this tree {commit.stdout.strip()}"] = measure(bench, ROOT, serials, args)
    finally:
        bench.stop()
    print(f"{'tree':<28}" + "".join(f"{name + ' ops/answer':>26}" for name in RUNS))
    for tree, runs in trees.items():
        print(f"{tree:<28}" + "".join(f"{runs[n]['opcodes_per_answer']:>26,.0f}" for n in RUNS))
    summary: dict[str, Any] = {"load_average": os.getloadavg(), "trees": {}, "by_function": {}}
    for tree, runs in trees.items():
        summary["trees"][tree] = {n: {k: v for k, v in r.items() if k != "by_function"} for n, r in runs.items()}
        summary["by_function"][tree] = {n: r["by_function"] for n, r in runs.items()}
    names = list(trees)
    for run in RUNS:
        ours = trees[names[-1]][run]["by_function"]
        if len(names) > 1:
            deltas = collections.Counter(ours)
            deltas.subtract(trees[names[0]][run]["by_function"])
            title, listed = f"{run}: functions that changed most (opcodes an answer)", deltas
        else:
            title, listed = f"{run}: functions with most opcodes an answer", collections.Counter(ours)
        top = sorted(listed.items(), key=lambda item: -abs(item[1]))[: args.top]
        print(title)
        for name, value in top:
            print(f"  {value:+10.1f}  {name}")
        summary[f"{run}_top"] = dict(top)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
