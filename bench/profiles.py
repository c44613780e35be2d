"""Where the CPU of a purchase goes: sampled profiles of every Python process at the checkout peak.

Issue 13's checkout, mixed and PostgreSQL targets are bound by CPU on the 2-core machine. This
benchmark starts the stack of ``bench/reads.py`` (SQLite, 2 API workers, sender, indexer, Anvil),
drives the checkout peak (32 connections, closed loop) and meanwhile samples every Python process
with ``py-spy`` (50 Hz, idle threads left out). It writes, per process, the CPU milliseconds per
accepted purchase (from /proc, exact whatever the sampling) and the functions with the most
samples, by their own time and with what they call; the folded stacks go to
``bench/out/profiles/`` for any flame-graph tool. Anvil is not Python: only its CPU is given.

There is no naive baseline to compare with: the figures say where the time goes, and
``bench/reads.py`` compares the rates. Without ``py-spy`` (a dev dependency) only the CPU is written.

    python bench/profiles.py --duration 20
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _processes import group_pids  # noqa: E402
from loadgen import run_requests  # noqa: E402
from reads import populate, summary  # noqa: E402
from stack import Purchases, Stack  # noqa: E402

OUT = ROOT / "bench" / "out"
_FRAME = re.compile(r"(?P<function>.*) \((?P<file>.*?):\d+\)$")
_SITE = re.compile(r"^.*?/site-packages/|^.*?/lib/python3\.\d+/")


def frame_name(frame: str) -> str:
    """``function (file)``, the file relative to the project or site-packages."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = _SITE.sub("", match["file"].removeprefix(str(ROOT) + "/"))
    return f"{match['function']} ({path})"


def summarise(folded: Path, top: int = 15) -> dict[str, Any]:
    """Shares of samples per function: by its own time, and with its callees (once a stack)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [frame_name(frame) for frame in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for name in set(frames):
            inclusive[name] += int(count)

    def shares(counter: collections.Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)] if total else []

    return {"samples": total, "own_pct": shares(own), "inclusive_pct": shares(inclusive)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=OUT / "profiles.json")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    folded_dir = args.out.parent / "profiles"
    folded_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack("sqlite", 2)
    out: dict[str, Any] = {"workload": f"checkout peak, {args.connections} connections, closed loop, SQLite"}
    try:
        keys = stack.start()
        populate(stack, keys, args.customers, 0, 0)
        members = [f"member-{i}" for i in range(args.customers)]
        recorders: list[tuple[str, int, Path, subprocess.Popen[bytes]]] = []
        for name, process in stack.processes.items():
            for pid in group_pids(process.pid):
                target = folded_dir / f"checkout-{name}-{pid}.folded"
                if spy:
                    command = [spy, "record", "-p", str(pid), "-d", str(int(args.duration)), "-r", "50"]
                    command += ["-f", "raw", "-o", str(target), "--nonblocking"]
                    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    recorders.append((name, pid, target, recorder))
        cpu_before = stack.cpu()
        load_before = list(os.getloadavg())
        result = run_requests(
            stack.api_port,
            Purchases("profile", keys["checkout"], members),
            connections=args.connections,
            processes=2,
            duration=args.duration,
        )
        cpu_after = stack.cpu()
        measured = summary(result)
        accepted = max(measured["ok"], 1)
        out.update(
            {
                "purchases_per_s": measured["per_s"],
                "p99_ms": measured["p99_ms"],
                "errors": measured["errors"],
                "load_average": [load_before, list(os.getloadavg())],
                "cpu_ms_per_purchase": {
                    name: round((cpu_after[name] - cpu_before.get(name, 0.0)) * 1000 / accepted, 3)
                    for name in cpu_after
                },
                "profiles": {},
                "py_spy": bool(spy),
            }
        )
        for name, pid, target, recorder in recorders:
            recorder.wait(timeout=args.duration + 60)
            if target.exists() and target.stat().st_size:
                out["profiles"][f"{name}-{pid}"] = summarise(target)
        stack.wait_confirmed(120)
    finally:
        stack.stop()
    cpu = out.get("cpu_ms_per_purchase", {})
    out["figures"] = [
        {"name": f"CPU per purchase, {name}", "value": value, "baseline": None, "unit": "ms", "higher_is_better": False}
        for name, value in cpu.items()
    ]
    args.out.write_text(json.dumps(out, indent=2))
    print(f"{out['workload']}: {out.get('purchases_per_s')}/s, p99 {out.get('p99_ms')} ms")
    print("CPU ms per purchase: " + ", ".join(f"{k} {v}" for k, v in cpu.items()))
    for process, profile in out.get("profiles", {}).items():
        print(f"\n{process} ({profile['samples']} samples), own time:")
        for function, share in profile["own_pct"][:10]:
            print(f"  {share:5.1f}%  {function}")
    print(f"\nwritten {args.out} and {folded_dir}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
