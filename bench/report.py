"""The benchmark report: run every benchmark in bench/, then compare each figure with its naive
baseline measured in the same run.

``python bench/report.py`` (``make bench``) runs ``bench/<name>.py`` for every benchmark script
(files starting with ``_`` and this one excepted), each of which prints its table and writes JSON
under ``bench/out/``; then it writes ``bench/results.json``, ``bench/RESULTS.md`` (a table) and
``bench/results.png`` (a chart of each figure against its baseline). ``--no-run`` only
aggregates the JSON already in ``bench/out/``; ``--only NAME`` runs some benchmarks.

A benchmark's JSON may say what to compare explicitly (preferred)::

    {"figures": [{"name": "accepted purchases", "value": 1620, "baseline": 74, "unit": "req/s",
                  "higher_is_better": true}]}

or simply hold its numbers with the baseline's next to them: any number whose key path has a
``naive``/``baseline`` part (``{"naive": {"tx_per_s": 74}, "batched": {"tx_per_s": 1620}}``,
``baseline_gas_per_award``, ``p99_ms_naive``…) is paired with the same path without that part.
Benchmarks that do not exist yet, fail, or write nothing are listed as such; the rest still count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
EXPECTED = ("checkout", "provenance", "indexer", "reads")  # named in the issues; others are picked up too
BASELINE_WORDS = ("naive", "baseline")
NOT_VARIANTS = frozenset(
    {"target", "targets", "goal", "goals", "limit", "limits", "config", "settings", "machine", "parameters", "params"}
)
LOWER_IS_BETTER = re.compile(
    r"(latency|_ms\b|_ms_|\bms\b|p50|p95|p99|seconds|_s$|\btime\b|gas|lag|duration|cost)", re.I
)
RATE = re.compile(r"(per_s|per_sec|/s\b|_ps\b|throughput|rate)", re.I)


@dataclass
class Figure:
    name: str
    value: float
    baseline: float | None
    unit: str = ""
    higher_is_better: bool = True

    @property
    def improvement(self) -> float | None:
        """How many times better than the baseline (>1 is better), whatever the direction."""
        if self.baseline is None or self.value == 0 or self.baseline == 0:
            return None
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value


@dataclass
class BenchmarkResult:
    name: str
    status: str  # ok | missing | failed | no-output
    figures: list[Figure] = field(default_factory=list)
    seconds: float | None = None
    detail: str = ""
    sources: list[str] = field(default_factory=list)


# --- reading one benchmark's JSON -------------------------------------------------------------


def _item_label(value: Any, index: int) -> str:
    """A list item's label: its name, else its first scalar field (``batch=256``), else its index;
    in brackets, so paths know where a list of measured variants is."""
    if isinstance(value, dict):
        if "name" in value:
            return f"[{value['name']}]"
        first = next(((k, v) for k, v in value.items() if isinstance(v, str | int) and not isinstance(v, bool)), None)
        if first is not None:
            return f"[{first[0]}={first[1]}]"
    return f"[{index}]"


def _numbers(data: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], float]:
    found: dict[tuple[str, ...], float] = {}
    if isinstance(data, bool):
        return found
    if isinstance(data, int | float):
        found[path] = float(data)
    elif isinstance(data, dict):
        for key, value in data.items():
            found.update(_numbers(value, (*path, str(key))))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.update(_numbers(value, (*path, _item_label(value, index))))
    return found


def _is_marker(part: str) -> bool:
    return any(token in BASELINE_WORDS for token in re.split(r"[_\-\s]+", part.lower()))


def _baseline_marker(path: tuple[str, ...]) -> tuple[tuple[str, ...], int | None] | None:
    """None if the path is not a baseline's. Else, for a container marked as the baseline
    (``naive``, ``naive_baseline``…), the path and that segment's index; for a marked leaf key
    (``naive_x``, ``x_baseline``), the path with the marker removed and None."""
    for index, part in enumerate(path[:-1]):
        if _is_marker(part):
            return path, index
    if path and _is_marker(path[-1]):
        words = "|".join(BASELINE_WORDS)
        return (*path[:-1], re.sub(rf"^({words})_|_({words})$", "", path[-1], flags=re.I)), None
    return None


def _match_rank(ours: tuple[str, ...], baseline: tuple[str, ...], index: int | None) -> int:
    """How well a baseline fits one of our figures: 3 same key, 2 sibling container, 1 the same
    measure in a list of measured variants, 0 not at all."""
    if index is None:
        return 3 if ours == baseline else 0
    without = (*baseline[:index], *baseline[index + 1 :])
    if ours == without:
        return 2
    # {"naive": {...}} next to {"batched": {...}}: the same path under a sibling container (only
    # for a container named just "naive"/"baseline", and never a target or the machine's data).
    if (
        baseline[index].lower() in BASELINE_WORDS
        and len(ours) == len(baseline)
        and ours[index].lower() not in NOT_VARIANTS
        and all(o == b for i, (o, b) in enumerate(zip(ours, baseline, strict=True)) if i != index)
    ):
        return 2
    # {"naive_baseline": {"gas_per_event": …}, "batches": [{"batch": 256, "gas_per_event": …}, …]}
    tail = baseline[index + 1 :]
    if tail and len(ours) > len(tail) and ours[-len(tail) :] == tail and ours[-len(tail) - 1].startswith("["):
        return 1
    return 0


def _unit_of(key: str) -> str:
    lowered = key.lower()
    for pattern, unit in (("gas", "gas"), ("_ms", "ms"), ("per_s", "/s"), ("seconds", "s"), ("bytes", "B")):
        if pattern in lowered:
            return unit
    return ""


@dataclass(frozen=True)
class Spec:
    """Where a known benchmark keeps one figure and its baseline: dotted paths, ``[*]`` for every
    item of a list (``name`` may then use the item's fields, e.g. ``{batch}``)."""

    name: str
    ours: str
    baseline: str | None
    unit: str
    higher_is_better: bool


# The benchmarks of this repository, read by their own field names (which differ between ours and
# the baseline: accepted_per_s vs purchases_per_s). Other benchmarks: explicit "figures", or the
# naive/baseline markers below.
SPECS: dict[str, list[Spec]] = {
    "checkout": [
        Spec("purchases accepted per second", "batched.accepted_per_s", "naive.purchases_per_s", "/s", True),
        Spec(
            "awards confirmed per second during the load",
            "batched.confirmed_per_s_during_load",
            "naive.purchases_per_s",
            "/s",
            True,
        ),
        Spec("accept latency p99", "batched.accept_p99_ms", "naive.latency_p99_ms", "ms", False),
        Spec("accept to confirmed p99", "batched.accept_to_confirmed_p99_s", None, "s", False),
        Spec("gas per award", "batched.gas_per_award", "naive.gas_per_award", "gas", False),
        Spec("server CPU per purchase", "batched.server_cpu_ms_per_purchase", None, "ms", False),
    ],
    "provenance": [
        Spec(
            "gas per event, batch of {batch}", "batches[*].gas_per_event", "naive_baseline.gas_per_event", "gas", False
        ),
        Spec(
            "events anchored per second, batch of {batch}",
            "batches[*].events_per_second",
            "naive_baseline.events_per_second",
            "/s",
            True,
        ),
        Spec("capture pipeline events per second", "capture.events_per_second", None, "/s", True),
        Spec(
            "EPCIS capture events per second, documents of 100 events, 2 processes at once (API workers)",
            "capture_at_scale.parallel.events_per_second",
            "capture_at_scale.baseline_events_per_second",
            "/s",
            True,
        ),
        Spec(
            "EPCIS capture events per second, documents of 100 events, one process",
            "capture_at_scale.events_per_second",
            "capture_at_scale.baseline_events_per_second",
            "/s",
            True,
        ),
        Spec(
            "EPCIS capture events per CPU-second, documents of 100 events",
            "capture_at_scale.events_per_cpu_second",
            "capture_at_scale.baseline_events_per_cpu_second",
            "/s",
            True,
        ),
    ],
    "indexer": [
        Spec(
            "backfill events per second, SQLite", "sqlite.events_per_second", "baseline.events_per_second", "/s", True
        ),
        Spec(
            "backfill events per second, PostgreSQL",
            "postgresql.events_per_second",
            "baseline.events_per_second",
            "/s",
            True,
        ),
        Spec("lag at the head, max", "lag.max_lag_blocks", None, "blocks", False),
        Spec(
            "backfill with wallet claims and state events, SQLite",
            "state.sqlite.events_per_second",
            "state.naive.events_per_second",
            "/s",
            True,
        ),
        Spec(
            "backfill with wallet claims and state events, PostgreSQL",
            "state.postgresql.events_per_second",
            "state.naive.events_per_second",
            "/s",
            True,
        ),
        Spec(
            "at the head, a block with a wallet claim",
            "state.head.median_ms",
            "state.head_naive.median_ms",
            "ms",
            False,
        ),
    ],
}


def _resolve(data: Any, path: str) -> list[tuple[dict[str, Any], Any]]:
    """(fields of the list item matched by ``[*]``, value) for every match of a dotted path."""
    found: list[tuple[dict[str, Any], Any]] = [({}, data)]
    for part in path.split("."):
        star = part.endswith("[*]")
        key = part[:-3] if star else part
        step: list[tuple[dict[str, Any], Any]] = []
        for fields, node in found:
            value = node.get(key) if isinstance(node, dict) else None
            if star and isinstance(value, list):
                step.extend((item if isinstance(item, dict) else {}, item) for item in value)
            elif value is not None and not star:
                step.append((fields, value))
        found = step
    return [
        (fields, value) for fields, value in found if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def figures_by_spec(data: Any, specs: list[Spec]) -> tuple[list[Figure], list[str]]:
    """Figures a known benchmark's JSON holds; names of those it lacks (its format changed?)."""
    figures: list[Figure] = []
    missing: list[str] = []
    for spec in specs:
        ours = _resolve(data, spec.ours)
        base = _resolve(data, spec.baseline) if spec.baseline else []
        if not ours or (spec.baseline and not base):
            missing.append(spec.name)
            continue
        for fields, value in ours:
            try:
                name = spec.name.format(**fields)
            except (KeyError, IndexError):
                name = spec.name
            figures.append(
                Figure(name, float(value), float(base[0][1]) if base else None, spec.unit, spec.higher_is_better)
            )
    return figures, missing


def pair_figures(data: Any) -> list[Figure]:
    """Figures of a benchmark's JSON, explicit or paired by their naive/baseline marker."""
    if isinstance(data, dict) and isinstance(data.get("figures"), list):
        figures = []
        for item in data["figures"]:
            if isinstance(item, dict) and isinstance(item.get("value"), int | float):
                name = str(item.get("name", "figure"))
                baseline = item.get("baseline")
                figures.append(
                    Figure(
                        name=name,
                        value=float(item["value"]),
                        baseline=float(baseline) if isinstance(baseline, int | float) else None,
                        unit=str(item.get("unit", _unit_of(name))),
                        higher_is_better=bool(item.get("higher_is_better", not LOWER_IS_BETTER.search(name))),
                    )
                )
        return figures
    numbers = _numbers(data)
    baselines = {path: marker for path in numbers if (marker := _baseline_marker(path)) is not None}
    figures = []
    for path, value in numbers.items():
        if path in baselines or any(_is_marker(part) for part in path):
            continue
        ranks = {b: _match_rank(path, key, index) for b, (key, index) in baselines.items()}
        best = max(ranks.values(), default=0)
        matched = [b for b, rank in ranks.items() if rank == best and best > 0]
        if len(matched) != 1:
            continue  # no baseline, or ambiguous: not a comparison
        name = " / ".join(path)
        lower = bool(LOWER_IS_BETTER.search(name)) and not RATE.search(name)
        figures.append(Figure(name, value, numbers[matched[0]], _unit_of(name), higher_is_better=not lower))
    return figures


# --- running ------------------------------------------------------------------------------------


def discover(bench_dir: Path) -> list[str]:
    """Benchmark scripts: runnable modules of bench/ (helpers have no ``__main__`` block)."""
    names = {
        p.stem
        for p in bench_dir.glob("*.py")
        if not p.name.startswith("_") and p.name != Path(__file__).name and "__main__" in p.read_text()
    }
    return sorted(names)


def run_benchmark(bench_dir: Path, name: str, timeout: float) -> tuple[str, float, str]:
    """Run one benchmark; return (status, seconds, detail)."""
    started = time.monotonic()
    try:
        run = subprocess.run(
            [sys.executable, str(bench_dir / f"{name}.py")],
            cwd=bench_dir.parent,
            timeout=timeout,
            env={**os.environ, "PYTHONPATH": str(bench_dir.parent)},
        )
    except subprocess.TimeoutExpired:
        return "failed", time.monotonic() - started, f"timed out after {timeout:.0f} s"
    seconds = time.monotonic() - started
    if run.returncode != 0:
        return "failed", seconds, f"exited with code {run.returncode}"
    return "ok", seconds, ""


def outputs_of(out_dir: Path, name: str, since: float | None) -> list[Path]:
    """JSON a benchmark wrote (``<name>.json`` or ``<name>_*.json``), newer than ``since``."""
    candidates = [p for p in sorted(out_dir.glob("*.json")) if p.stem == name or p.stem.startswith(f"{name}_")]
    return [p for p in candidates if since is None or p.stat().st_mtime >= since]


def collect(out_dir: Path, name: str, since: float | None) -> tuple[list[Figure], list[str], str]:
    figures: list[Figure] = []
    sources: list[str] = []
    problems: list[str] = []
    for path in outputs_of(out_dir, name, since):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        prefix = "" if path.stem == name else path.stem[len(name) + 1 :] + ": "
        explicit = isinstance(data, dict) and isinstance(data.get("figures"), list)
        if name in SPECS and path.stem == name and not explicit:
            found, missing = figures_by_spec(data, SPECS[name])
            if missing:
                problems.append(f"{path.name} lacks: {', '.join(missing)}")
        else:
            found = pair_figures(data)
        figures.extend(Figure(prefix + f.name, f.value, f.baseline, f.unit, f.higher_is_better) for f in found)
        sources.append(str(path.relative_to(out_dir.parent)) if out_dir.parent in path.parents else str(path))
    return figures, sources, "; ".join(problems)


# --- writing ------------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def markdown(results: list[BenchmarkResult], generated_at: str, machine: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `make bench` on {generated_at} ({machine['cpus']} CPUs, Python {machine['python']}). "
        "Every figure is compared with its naive baseline measured in the same run; "
        '"x better" is how many times better ours is, whichever direction is better. '
        "Chart: [results.png](results.png); raw numbers: [results.json](results.json).",
        "",
    ]
    for result in results:
        lines.append(f"## {result.name}")
        lines.append("")
        if result.status == "ok" and result.figures and result.detail:
            lines.extend([f"_Note: {result.detail}._", ""])
        if result.status != "ok" or not result.figures:
            reasons = {
                "missing": "not written yet",
                "failed": f"failed ({result.detail})",
                "no-output": "ran but wrote no JSON under bench/out/",
            }
            reason = reasons.get(result.status, result.detail)
            lines.extend([f"_No figures: {reason or 'no figure has a baseline to compare with'}._", ""])
            continue
        lines.append("| figure | ours | naive baseline | unit | x better |")
        lines.append("|---|---:|---:|---|---:|")
        for figure in result.figures:
            ratio = figure.improvement
            lines.append(
                f"| {figure.name} | {_fmt(figure.value)} | {_fmt(figure.baseline)} | {figure.unit} | "
                f"{'—' if ratio is None else f'{ratio:,.1f}x'} |"
            )
        lines.append("")
    return "\n".join(lines)


def chart(results: list[BenchmarkResult], path: Path) -> bool:
    """A horizontal bar per figure: how many times better than its baseline (log scale)."""
    rows = [(f"{r.name}: {f.name}", f.improvement) for r in results for f in r.figures if f.improvement]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, max(2.5, 0.4 * len(rows) + 1.4)))
    if rows:
        labels = [label for label, _ in rows]
        values = [float(v) for _, v in rows if v is not None]
        ax.barh(labels, values, color=["#2a7" if v >= 1 else "#c44" for v in values])
        ax.axvline(1.0, color="#555", linewidth=1)
        ax.set_xscale("log")
        ax.invert_yaxis()
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:,.1f}x", va="center", fontsize=8)
        ax.set_xlim(min(0.5, min(values) / 2), max(values) * 4)  # room for the labels
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlabel("times better than the naive baseline (log scale; 1 = same)")
    else:
        ax.text(0.5, 0.5, "no benchmark figures yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    ax.set_title("Benchmarks against their naive baselines (same run)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return bool(rows)


def report(bench_dir: Path, run: bool, only: list[str] | None = None, timeout: float = 1800) -> list[BenchmarkResult]:
    out_dir = bench_dir / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    names = only or sorted({*discover(bench_dir), *EXPECTED})
    results: list[BenchmarkResult] = []
    for name in names:
        exists = (bench_dir / f"{name}.py").exists()
        since: float | None = None
        status, seconds, detail = ("ok", None, "") if exists else ("missing", None, "")
        if run and exists:
            since = time.time() - 1  # file times have coarse resolution on some filesystems
            print(f"== bench/{name}.py", flush=True)
            status, seconds, detail = run_benchmark(bench_dir, name, timeout)
        figures, sources, problems = collect(out_dir, name, since) if exists else ([], [], "")
        if status == "ok" and not sources:
            status = "no-output"
        results.append(
            BenchmarkResult(name, status, figures, seconds, "; ".join(filter(None, [detail, problems])), sources)
        )

    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    payload = {
        "generated_at": generated_at,
        "machine": machine,
        "benchmarks": {
            r.name: {**asdict(r), "figures": [{**asdict(f), "improvement": f.improvement} for f in r.figures]}
            for r in results
        },
    }
    (bench_dir / "results.json").write_text(json.dumps(payload, indent=1) + "\n")
    (bench_dir / "RESULTS.md").write_text(markdown(results, generated_at, machine) + "\n")
    chart(results, bench_dir / "results.png")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks and write the comparison report.")
    parser.add_argument("--no-run", action="store_true", help="only aggregate the JSON already in bench/out/")
    parser.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per benchmark")
    args = parser.parse_args(argv)
    results = report(BENCH_DIR, run=not args.no_run, only=args.only, timeout=args.timeout)
    print(f"\n{'benchmark':<14}{'status':<11}{'figures':>8}  best improvement")
    for r in results:
        best = max((f.improvement for f in r.figures if f.improvement), default=None)
        print(f"{r.name:<14}{r.status:<11}{len(r.figures):>8}  {'—' if best is None else f'{best:,.1f}x'}")
    print(f"\nwrote {BENCH_DIR / 'results.json'}, {BENCH_DIR / 'RESULTS.md'}, {BENCH_DIR / 'results.png'}")
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
