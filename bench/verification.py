"""Verification benchmark: the public Digital Link ``GET /01/{gtin}/21/{serial}`` under load from
many distinct client networks, scans recorded, JSON and HTML, against today's path as it was
before issue 13, measured in the same run.

Starts its own Anvil, deploys, migrates a fresh SQLite database in a temporary CREDANCE_HOME,
seeds the demo brand, registers ``--items`` items and captures their history (made, packed in
cases of 10, shipped, received, unpacked), then runs the API, the sender, the indexer and the
anchorer until every item is registered on chain and every event anchored (so each answer
carries its proofs). A second API process serves the same database with the code of
``--baseline-ref`` (unpacked from git): the naive baseline, one write transaction per scan.

Each measured run drives ``--connections`` keep-alive connections for ``--duration`` seconds, each
connection from its own client network (``127.<a>.<b>.1``, a /24 each: clone detection and the
anonymous rate limit see that many clients), over all items, a quarter of the requests with a
coarse location. Runs: JSON and HTML with scans recorded (ours and the baseline), the
revalidation of unchanged answers (``scan=false`` with ``If-None-Match``: 304), and one hot item
scanned by every connection. Reported: answers/s, p50/p99, statuses, scans recorded against
answers given (none lost), and the API's CPU per answer (steadier than rates on a shared
machine), plus the load average.

    python bench/verification.py --help
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from _processes import free_port, group_cpu_seconds  # noqa: E402  (bench/ is on sys.path)
from _scanload import LoadResult, percentile, run_load  # noqa: E402
from sqlalchemy import text  # noqa: E402

from backend.chain.anvil import start_anvil, stop_anvil  # noqa: E402
from backend.chain.bootstrap import ensure_deployment  # noqa: E402
from backend.cli.seed import DEMO_BRAND, seed_demo  # noqa: E402
from backend.db.engine import make_engine, session_scope  # noqa: E402
from backend.db.migrate import upgrade  # noqa: E402
from backend.db.models import Organisation  # noqa: E402
from backend.provenance.epcis.capture import capture_document  # noqa: E402
from backend.provenance.items import register_items  # noqa: E402
from backend.settings import (  # noqa: E402
    PROJECT_ROOT,
    ProvenanceSettings,
    Settings,
)

TARGET_PER_S = 2_000
TARGET_P99_MS = 50.0
GTIN = "09506000134352"  # the demo brand's first product
BASELINE_REF = "4abddd2222349e7a7b6bd780ad0b7e69919d7141"  # the last commit before issue 13's work
CITIES = [(48.86, 2.35), (51.51, -0.13), (40.71, -74.01), (35.68, 139.69), (52.52, 13.40), (41.90, 12.50)]


def _link(serial: str) -> str:
    return f"https://id.gs1.org/01/{GTIN}/21/{serial}"


def history_documents(serials: list[str]) -> list[dict[str, Any]]:
    """Each case of 10 items: made, packed, shipped, received, unpacked (documents of 100 events)."""
    factory, store = "urn:epc:id:sgln:9506000.00001.0", "urn:epc:id:sgln:9506000.00002.0"
    start = datetime.now(UTC) - timedelta(days=3)
    events: list[dict[str, Any]] = []
    for c in range(0, len(serials), 10):
        epcs = [_link(s) for s in serials[c : c + 10]]
        case = f"urn:epc:id:sscc:9506000.{7_000_000_000 + c // 10:010d}"

        def at(minutes: int, c: int = c) -> str:
            return (start + timedelta(minutes=c + minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

        common = {"eventTimeZoneOffset": "+00:00"}
        events += [
            {
                "type": "ObjectEvent",
                "action": "ADD",
                "bizStep": "commissioning",
                "disposition": "active",
                "epcList": epcs,
                "eventTime": at(0),
                "readPoint": {"id": factory},
                **common,
            },
            {
                "type": "AggregationEvent",
                "action": "ADD",
                "bizStep": "packing",
                "parentID": case,
                "childEPCs": epcs,
                "eventTime": at(60),
                "readPoint": {"id": factory},
                **common,
            },
            {
                "type": "ObjectEvent",
                "action": "OBSERVE",
                "bizStep": "shipping",
                "disposition": "in_transit",
                "epcList": [case],
                "eventTime": at(120),
                "readPoint": {"id": factory},
                **common,
            },
            {
                "type": "ObjectEvent",
                "action": "OBSERVE",
                "bizStep": "receiving",
                "disposition": "in_progress",
                "epcList": [case],
                "eventTime": at(1800),
                "bizLocation": {"id": store},
                **common,
            },
            {
                "type": "AggregationEvent",
                "action": "DELETE",
                "bizStep": "unpacking",
                "parentID": case,
                "childEPCs": epcs,
                "eventTime": at(1860),
                "bizLocation": {"id": store},
                **common,
            },
        ]
    return [
        {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00Z",
            "epcisBody": {"eventList": events[i : i + 100]},
        }
        for i in range(0, len(events), 100)
    ]


class Platform:
    """Anvil + contracts + database + services (and the baseline's API), in a temporary home."""

    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.args = args
        self.home = home
        self.settings = Settings(
            home=home,
            port=free_port(),
            chain_port=free_port(),
            deployments_dir=home / "deployments",
            database_url=f"sqlite:///{home / 'credance.db'}",
        )
        self.baseline_port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def env(self, port: int) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "CREDANCE_HOME": str(self.home),
            "CREDANCE_PORT": str(port),
            "CREDANCE_CHAIN_PORT": str(s.chain_port),
            "CREDANCE_CHAIN_ID": "31337",
            "CREDANCE_DATABASE_URL": s.resolved_database_url,
            "CREDANCE_DEPLOYMENTS_DIR": str(s.deployments_dir),
            "CREDANCE_EPCIS_DIR": str(ProvenanceSettings().epcis_dir),
            "CREDANCE_LOG_LEVEL": "WARNING",
            "CREDANCE_LOG_FORMAT": "json",
            "CREDANCE_PUBLIC_URL": f"http://127.0.0.1:{s.port}",
        }

    def start(self) -> list[str]:
        s = self.settings
        start_anvil(self.home, s.chain_port, PROJECT_ROOT / "node_modules", persist=False)
        ensure_deployment(s, force=True)
        upgrade(s.resolved_database_url)
        self.engine = make_engine(s.resolved_database_url)
        seed_demo(self.engine, s, 31337)
        serials = [f"B{n:06d}" for n in range(self.args.items)]
        with session_scope(self.engine) as session:
            register_items(session, session.get(Organisation, DEMO_BRAND), GTIN, serials, lot="BENCH")
        provenance = ProvenanceSettings()
        for document in history_documents(serials):
            with session_scope(self.engine) as session:
                capture_document(session, session.get(Organisation, DEMO_BRAND), document, provenance)
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        for name, command in {
            "api": ["serve"],
            "sender": ["sender"],
            "indexer": ["indexer"],
            "anchorer": ["anchorer"],
        }.items():
            self._spawn(name, command, ROOT, self.env(s.port))
        self._wait_healthy(s.port, "api")
        return serials

    def _spawn(self, name: str, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        with (self.home / "logs" / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "backend.cli.main", *command],
                env=env,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_healthy(self, port: int, name: str) -> None:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start; see {self.home / 'logs' / f'{name}.log'}")
            time.sleep(0.2)

    def start_baseline(self, tree: Path) -> None:
        """Today's path before issue 13: the baseline commit's API on the same database."""
        env = {**self.env(self.baseline_port), "PYTHONPATH": str(tree)}
        self._spawn("baseline", ["serve"], tree, env)
        self._wait_healthy(self.baseline_port, "baseline")

    def wait_settled(self, timeout: float) -> dict[str, int]:
        """Until every item batch is mirrored and every event anchored (the proofs are complete)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.engine.connect() as db:
                batches, mirrored = db.execute(
                    text(
                        "SELECT count(*), sum(CASE WHEN m.root IS NULL THEN 0 ELSE 1 END) FROM item_batches b "
                        "LEFT JOIN mirror_item_batches m ON m.root = b.root"
                    )
                ).one()
                events, anchored = db.execute(
                    text(
                        "SELECT count(*), sum(CASE WHEN a.root IS NULL THEN 0 ELSE 1 END) FROM epcis_events e "
                        "LEFT JOIN mirror_event_anchors a ON a.root = e.anchor_root"
                    )
                ).one()
            state = {"item_batches": batches, "mirrored": mirrored or 0, "events": events, "anchored": anchored or 0}
            if state["mirrored"] == batches and state["anchored"] == events:
                return state
            if time.monotonic() > deadline:
                raise RuntimeError(f"the platform did not settle: {state}")
            time.sleep(0.5)

    def scans(self) -> int:
        with self.engine.connect() as db:
            return int(db.execute(text("SELECT count(*) FROM scans")).scalar_one())

    def cpu(self, name: str) -> float:
        return group_cpu_seconds(self.processes[name].pid)

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if hasattr(self, "engine"):
            self.engine.dispose()
        stop_anvil(self.home)


def requests_for(serials: list[str], fmt: str, scan: bool = True, etags: dict[str, str] | None = None) -> Any:
    """A picklable factory: every connection walks the items from its own offset; one request in
    four says where it is (a city, rounded by the server to 0.1°)."""

    def request(conn: int, seq: int) -> tuple[str, bytes]:
        serial = serials[(conn * 7919 + seq) % len(serials)]
        query = f"format={fmt}" + ("" if scan else "&scan=false")
        if scan and (conn + seq) % 4 == 0:
            lat, lon = CITIES[(conn + seq) % len(CITIES)]
            query += f"&lat={lat}&lon={lon}"
        headers = b""
        if etags is not None:
            headers = b"If-None-Match: %s\r\n" % etags[serial].encode()
        return f"/01/{GTIN}/21/{serial}?{query}", headers

    return request


def measure(
    bench: Platform, name: str, port: int, requests: Any, args: argparse.Namespace, server: str, scans_expected: bool
) -> dict[str, Any]:
    scans_before, cpu_before = bench.scans(), bench.cpu(server)
    load_before = os.getloadavg()
    result: LoadResult = run_load(
        port, requests, connections=args.connections, processes=args.client_processes, duration=args.duration
    )
    load_after = os.getloadavg()
    cpu = bench.cpu(server) - cpu_before
    window = result.finished - result.started
    answered = len(result.latencies)
    recorded = bench.scans() - scans_before
    ok = result.statuses.get(200, 0)
    return {
        "name": name,
        "answered": answered,
        "duration_s": round(window, 2),
        "answers_per_s": answered / window if window else float("nan"),
        "p50_ms": percentile(result.latencies, 50) * 1000,
        "p99_ms": percentile(result.latencies, 99) * 1000,
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "errors": result.errors,
        "bytes_per_answer": result.bytes / answered if answered else 0,
        "scans_recorded": recorded,
        "scans_expected": ok if scans_expected else 0,
        "api_cpu_ms_per_answer": cpu * 1000 / answered if answered else float("nan"),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    }


PER_SETUP_CLIENT = 100  # requests per source address while setting up: under the anonymous rate limit's burst


def _setup_get(port: int, serials: list[str], fmt: str = "json") -> list[httpx.Response]:
    """One untimed ``scan=false`` answer per item, from a new client network every
    ``PER_SETUP_CLIENT`` requests (``127.250.<n>.1``: none of the measured connections' networks),
    so that a fast API does not rate-limit the set-up."""
    answers = []
    for start in range(0, len(serials), PER_SETUP_CLIENT):
        transport = httpx.HTTPTransport(local_address=f"127.250.{(start // PER_SETUP_CLIENT) % 250}.1")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, transport=transport) as client:
            for serial in serials[start : start + PER_SETUP_CLIENT]:
                answer = client.get(f"/01/{GTIN}/21/{serial}", params={"format": fmt, "scan": "false"})
                answer.raise_for_status()
                answers.append(answer)
    return answers


def etags_of(port: int, serials: list[str]) -> dict[str, str]:
    return {serial: answer.headers["etag"] for serial, answer in zip(serials, _setup_get(port, serials), strict=True)}


def warm(port: int, serials: list[str]) -> None:
    """One answer and one page per item (scan=false): caches (the page's parts too) and code
    paths, not timed."""
    _setup_get(port, serials)
    _setup_get(port, serials, "html")


def baseline_tree(ref: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "backend"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def figures(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for fmt in ("json", "html"):
        ours, base = runs[f"{fmt}"], runs[f"baseline_{fmt}"]
        label = fmt.upper()
        out += [
            {
                "name": f"verification {label}, scans recorded: answers/s",
                "value": ours["answers_per_s"],
                "baseline": base["answers_per_s"],
                "unit": "/s",
                "higher_is_better": True,
            },
            {
                "name": f"verification {label}, scans recorded: p99",
                "value": ours["p99_ms"],
                "baseline": base["p99_ms"],
                "unit": "ms",
                "higher_is_better": False,
            },
            {
                "name": f"verification {label}: API CPU per answer",
                "value": ours["api_cpu_ms_per_answer"],
                "baseline": base["api_cpu_ms_per_answer"],
                "unit": "ms",
                "higher_is_better": False,
            },
        ]
    base = runs["baseline_json"]["answers_per_s"]
    for run, name in (
        ("revalidate", "verification revalidated (304): answers/s"),
        ("hot_item", "verification JSON, one hot item: answers/s"),
    ):
        if run in runs:
            out.append(
                {
                    "name": name,
                    "value": runs[run]["answers_per_s"],
                    "baseline": base,
                    "unit": "/s",
                    "higher_is_better": True,
                }
            )
    return out


def table(runs: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'run':<16}{'answers/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/ans':>11}{'scans rec/exp':>16}  statuses"]
    for name, r in runs.items():
        lines.append(
            f"{name:<16}{r['answers_per_s']:>11,.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
            f"{r['api_cpu_ms_per_answer']:>11.2f}{r['scans_recorded']:>8}/{r['scans_expected']:<7}  "
            f"{r['statuses']} errors={r['errors']} load={r['loadavg_after'][0]:.1f}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000, help="registered items with a history (default 1000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument("--baseline-duration", type=float, default=8.0, help="seconds per baseline run")
    parser.add_argument("--connections", type=int, default=32, help="connections, one client network each")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="commit whose API is the baseline")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "verification.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="credance-verify-bench-"))
    bench = Platform(args, home)
    runs: dict[str, dict[str, Any]] = {}
    try:
        serials = bench.start()
        settled = bench.wait_settled(timeout=300)
        port = bench.settings.port
        warm(port, serials)
        for fmt in ("json", "html"):
            runs[fmt] = measure(bench, fmt, port, requests_for(serials, fmt), args, "api", True)
        runs["revalidate"] = measure(
            bench,
            "revalidate",
            port,
            requests_for(serials, "json", scan=False, etags=etags_of(port, serials)),
            args,
            "api",
            False,
        )
        runs["hot_item"] = measure(bench, "hot_item", port, requests_for(serials[:1], "json"), args, "api", True)
        if not args.no_baseline:
            bench.start_baseline(baseline_tree(args.baseline_ref, home / "baseline"))
            warm(bench.baseline_port, serials)
            baseline_args = argparse.Namespace(**{**vars(args), "duration": args.baseline_duration})
            for fmt in ("json", "html"):
                name = f"baseline_{fmt}"
                runs[name] = measure(
                    bench, name, bench.baseline_port, requests_for(serials, fmt), baseline_args, "baseline", True
                )
    finally:
        bench.stop()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    print(table(runs))
    passed = all(
        runs[f]["answers_per_s"] >= TARGET_PER_S and runs[f]["p99_ms"] <= TARGET_P99_MS for f in ("json", "html")
    )
    lost = {name: r["scans_expected"] - r["scans_recorded"] for name, r in runs.items() if r["scans_expected"]}
    verdict = "PASS" if passed else "FAIL"
    print(
        f"target ≥ {TARGET_PER_S:,}/s with p99 ≤ {TARGET_P99_MS:.0f} ms, JSON and HTML: {verdict}; scans answered "
        f"but not recorded: {lost}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "verification",
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "loadavg": os.getloadavg(),
                },
                "parameters": {
                    "items": args.items,
                    "connections": args.connections,
                    "duration_s": args.duration,
                    "baseline_ref": args.baseline_ref,
                    "client_networks": args.connections,
                },
                "settled": settled,
                "target": {"answers_per_s": TARGET_PER_S, "p99_ms": TARGET_P99_MS, "passed": passed},
                "runs": runs,
                "figures": figures(runs) if not args.no_baseline else [],
            },
            indent=2,
        )
    )
    print(f"written {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    random.seed(13)
    raise SystemExit(main())
