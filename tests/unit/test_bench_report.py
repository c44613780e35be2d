"""The benchmark report on small fake inputs (no timings): pairing of figures with their naive
baselines in the shapes benchmarks write, missing and failing benchmarks, and the three outputs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from backend.settings import PROJECT_ROOT
from tests.support import load_script


@pytest.fixture(scope="module")
def report() -> ModuleType:
    return load_script(PROJECT_ROOT / "bench" / "report.py", "bench_report")


def by_name(figures: list) -> dict[str, tuple[float, float | None, bool]]:
    return {f.name: (f.value, f.baseline, f.higher_is_better) for f in figures}


def test_explicit_figures(report: ModuleType) -> None:
    figures = report.pair_figures(
        {
            "figures": [
                {"name": "accepted purchases", "value": 1600, "baseline": 80, "unit": "req/s"},
                {"name": "p99 accept latency ms", "value": 40, "baseline": 400},
                {"name": "gas per award", "value": 17000, "baseline": 51000, "higher_is_better": False},
                {"name": "no baseline", "value": 3},
            ]
        }
    )
    named = {f.name: f for f in figures}
    assert named["accepted purchases"].improvement == 20
    assert named["p99 accept latency ms"].improvement == 10  # lower is better, inferred from the name
    assert named["gas per award"].improvement == 3
    assert named["no baseline"].improvement is None


def test_pairs_by_naive_or_baseline_markers(report: ModuleType) -> None:
    data = {
        "batched": {"tx_per_s": 1620.0, "p99_ms": 35},
        "naive": {"tx_per_s": 74.0, "p99_ms": 350},
        "events_per_s": 8000,
        "baseline_events_per_s": 400,
        "gas_per_award": 17175,
        "gas_per_award_naive": 52000,
        "runs": [{"name": "sqlite", "rate": 10, "naive_rate": 5}],
        "ok": True,
        "unpaired": 12,
    }
    figures = by_name(report.pair_figures(data))
    # {"batched": …} next to {"naive": …}: the same key under a sibling.
    assert figures["batched / tx_per_s"] == (1620, 74, True)
    assert figures["batched / p99_ms"] == (35, 350, False)
    assert figures["events_per_s"] == (8000, 400, True)
    assert figures["gas_per_award"] == (17175, 52000, False)
    assert figures["runs / [sqlite] / rate"] == (10, 5, True)
    assert "unpaired" not in figures
    same_path = by_name(report.pair_figures({"results": {"tx_per_s": 1620}, "naive": {"results": {"tx_per_s": 74}}}))
    assert same_path == {"results / tx_per_s": (1620, 74, True)}
    # Two systems against one naive baseline: each is compared with it.
    both = by_name(
        report.pair_figures(
            {"sqlite": {"events_per_s": 9000}, "postgres": {"events_per_s": 7000}, "naive": {"events_per_s": 300}}
        )
    )
    assert both == {"sqlite / events_per_s": (9000, 300, True), "postgres / events_per_s": (7000, 300, True)}


def test_a_baseline_against_a_list_of_measured_variants(report: ModuleType) -> None:
    """One naive baseline, our figure at several settings (the provenance benchmark's shape); a
    measure outside the list of variants is not compared with it."""
    data = {
        "target": {"gas_per_event": 3000, "batch": 256},
        "naive_baseline": {"events": 64, "gas_per_event": 45563.0, "events_per_second": 76.0},
        "batches": [
            {"batch": 16, "gas_per_event": 4712.0, "events_per_second": 740.0},
            {"batch": 256, "gas_per_event": 294.5, "events_per_second": 3811.0},
        ],
        "capture": {"events": 1000, "events_per_second": 433.0},
    }
    figures = {f.name: f for f in report.pair_figures(data)}
    assert set(figures) == {
        f"batches / [batch={n}] / {m}" for n in (16, 256) for m in ("gas_per_event", "events_per_second")
    }
    assert figures["batches / [batch=256] / gas_per_event"].improvement == pytest.approx(45563.0 / 294.5)
    assert figures["batches / [batch=256] / events_per_second"].improvement == pytest.approx(3811.0 / 76.0)


def test_missing_failing_and_silent_benchmarks(report: ModuleType, tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    (bench / "out").mkdir(parents=True)
    write = {
        "checkout": 'json.dump({"figures": [{"name": "purchases per s", "value": 1500, "baseline": 75}]}, f)',
        "cache": 'json.dump({"events_per_s": 9000, "naive": {"events_per_s": 300}}, f)',
    }
    for name, body in write.items():
        (bench / f"{name}.py").write_text(
            textwrap.dedent(f"""
            import json, pathlib
            if __name__ == "__main__":
                with open(pathlib.Path(__file__).parent / "out" / "{name}.json", "w") as f:
                    {body}
        """)
        )
    (bench / "broken.py").write_text("if __name__ == '__main__':\n    raise SystemExit(3)\n")
    (bench / "silent.py").write_text("if __name__ == '__main__':\n    print('a table, no JSON')\n")
    (bench / "_helpers.py").write_text("VALUE = 1\n")
    (bench / "loadgen.py").write_text("def helper():\n    return 1\n")  # no __main__: not a benchmark
    # A stale result of the broken benchmark must not be reported as this run's.
    (bench / "out" / "broken.json").write_text(json.dumps({"x": 1, "naive_x": 1}))
    stale = bench / "out" / "broken.json"
    import os

    os.utime(stale, (1_000_000, 1_000_000))

    results = {r.name: r for r in report.report(bench, run=True, timeout=120)}
    assert set(results) == {"checkout", "cache", "indexer", "provenance", "reads", "broken", "silent"}
    assert results["checkout"].status == "ok"
    assert results["checkout"].figures[0].improvement == 20
    assert results["cache"].figures[0].improvement == 30
    assert results["indexer"].status == "missing"
    assert results["provenance"].status == "missing"
    assert results["reads"].status == "missing"
    assert results["broken"].status == "failed"
    assert results["broken"].figures == []
    assert results["silent"].status == "no-output"

    payload = json.loads((bench / "results.json").read_text())
    assert payload["benchmarks"]["checkout"]["figures"][0]["improvement"] == 20
    table = (bench / "RESULTS.md").read_text()
    assert "| purchases per s | 1,500 | 75 |  | 20.0x |" in table
    assert "_No figures: not written yet._" in table
    assert "failed (exited with code 3)" in table
    assert (bench / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Aggregating without running reads what is there (including the old file).
    again = {r.name: r for r in report.report(bench, run=False)}
    assert again["broken"].status == "ok"
    assert again["provenance"].status == "missing"


def test_an_empty_bench_directory_still_gives_a_report(report: ModuleType, tmp_path: Path) -> None:
    results = report.report(tmp_path, run=True)
    assert {r.status for r in results} == {"missing"}
    assert (tmp_path / "results.png").exists()
    assert "not written yet" in (tmp_path / "RESULTS.md").read_text()


def test_known_benchmarks_are_read_by_their_own_field_names(report: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "bench" / "out"
    out.mkdir(parents=True)
    (out / "checkout.json").write_text(
        json.dumps(
            {
                "settings": {"duration": 20, "baseline_duration": 10},
                "batched": {
                    "accepted_per_s": 200.0,
                    "accept_p99_ms": 300.0,
                    "gas_per_award": 18000,
                    "confirmed_per_s_during_load": 190.0,
                    "accept_to_confirmed_p99_s": 0.7,
                    "server_cpu_ms_per_purchase": 6.5,
                },
                "naive": {"purchases_per_s": 40.0, "latency_p99_ms": 40.0, "gas_per_award": 54000},
            }
        )
    )
    (out / "indexer.json").write_text(json.dumps({"sqlite": {"events_per_second": 9000}}))  # an older format
    figures, _, problems = report.collect(out, "checkout", None)
    named = {f.name: f for f in figures}
    assert named["purchases accepted per second"].improvement == 5
    assert named["accept latency p99"].improvement == pytest.approx(40 / 300)
    assert named["gas per award"].improvement == 3
    assert named["accept to confirmed p99"].baseline is None
    assert not any("duration" in name for name in named)  # settings are not figures
    assert problems == ""
    figures, _, problems = report.collect(out, "indexer", None)
    assert figures == []
    assert "lacks: backfill events per second, SQLite" in problems
