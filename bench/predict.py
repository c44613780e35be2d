"""Prediction benchmark: customers scored per second at 10^5 and 10^6 customers, on SQLite and
PostgreSQL, with the memory peak, against a naive per-customer Python loop.

For each database and size, a fresh migrated database gets a simulated purchase history (a
Pareto/NBD population with CDNOW's parameters, two years of daily orders, written with bulk
inserts: the generation is not measured), then one prediction run is timed in its own process
(``runs.run``: extraction in SQL, the three fits, scoring, segments, the stored predictions; no
backtest, no item neighbours since the simulated orders have no lines). Its peak resident memory
is that process's ``ru_maxrss``. The history import (``history.read_text`` then
``import_history``: CSV text checked whole, then bulk inserts) is timed on its own at
--import-rows rows (300,000 by default: the issue's "hundreds of thousands of rows in seconds"),
against a naive import in the same run: ``csv.DictReader``, one ORM query per customer, an ORM
object per order and line, one commit (run on --baseline-rows rows; its rate does not depend on N).

The naive scoring baseline reads each customer's orders with one ORM query and scores them one at
a time with scalar model calls (the models already fitted): it runs on --baseline-customers
customers and its rate is reported as measured on them (a per-customer loop's rate does not
depend on N).

``make bench`` runs the default, 10^5 customers (a few minutes); the issue's 10^6 case is

    python bench/predict.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from _processes import free_port  # noqa: E402  (bench/ is on sys.path)
from sqlmodel import Session, select  # noqa: E402

from backend.db.direct import bulk_insert  # noqa: E402
from backend.db.engine import make_engine, session_scope  # noqa: E402
from backend.db.migrate import upgrade  # noqa: E402
from backend.db.models import Customer, HistoryOrder, Retailer, Store  # noqa: E402
from backend.db.schema import table_of  # noqa: E402
from backend.loyalty.program import publish_document  # noqa: E402

OUT = ROOT / "bench" / "out" / "predict.json"
AS_OF = date(2026, 6, 30)
DAYS = 730
RULES = {"points_per_unit": "1", "predictive": {"horizon_days": 90, "control_percent": 10}}


def simulate(customers: int, seed: int = 14) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer, day offset, total) of every order: Pareto/NBD and Gamma-Gamma with CDNOW's parameters (weeks),
    first purchases spread over the first year, at most one order a day."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.553, 1 / 10.578, customers) / 7  # per day
    life = rng.exponential(1 / rng.gamma(0.606, 1 / 11.669, customers)) * 7
    first = rng.integers(0, DAYS // 2, customers)
    end = np.minimum(first + life, DAYS - 1)
    repeat = rng.poisson(rate * (end - first))
    owners = np.repeat(np.arange(customers), repeat)
    days = first[owners] + (rng.random(owners.size) * (end - first)[owners]).astype(np.int64)
    customer = np.concatenate([np.arange(customers), owners])
    day = np.concatenate([first, days])
    keys = np.unique(customer.astype(np.int64) * DAYS + day)
    customer, day = np.divmod(keys, DAYS)
    # Gamma-Gamma spend (CDNOW's p, q, gamma): each customer's scale nu ~ Gamma(q, gamma), each order ~ Gamma(p, nu).
    nu = rng.gamma(3.74, 1 / 15.44, customers)
    total = np.round(rng.gamma(6.25, 1 / nu[customer]), 2)
    return customer, day, total


def prepare(url: str, customers: int) -> int:
    upgrade(url)
    engine = make_engine(url)
    customer, day, total = simulate(customers)
    start = datetime(AS_OF.year, AS_OF.month, AS_OF.day, 12, tzinfo=UTC) - timedelta(days=DAYS - 1)
    with session_scope(engine) as session:
        session.add(Retailer(id="bench", name="Bench"))
        session.flush()
        session.add(Store(id="bench-1", name="Bench", currency="EUR", retailer_id="bench"))
        publish_document(session, RULES)
        session.flush()
        now = datetime.now(UTC)
        for low in range(0, customers, 200_000):
            bulk_insert(
                session,
                table_of(Customer),
                [
                    {
                        "id": i + 1,
                        "external_id": f"b{i}",
                        "address": "0x" + f"{i + 1:040x}",
                        "wallet": None,
                        "created_at": now,
                        "erased_at": None,
                    }
                    for i in range(low, min(low + 200_000, customers))
                ],
            )
        for low in range(0, customer.size, 500_000):
            part = slice(low, low + 500_000)
            bulk_insert(
                session,
                table_of(HistoryOrder),
                [
                    {
                        "id": low + n + 1,
                        "store_id": "bench-1",
                        "order_id": f"o{low + n}",
                        "customer_id": int(c) + 1,
                        "ordered_at": start + timedelta(days=int(d)),
                        "total": f"{t:.2f}",
                        "import_id": "bench",
                        "imported_at": now,
                    }
                    for n, (c, d, t) in enumerate(zip(customer[part], day[part], total[part], strict=True))
                ],
            )
    engine.dispose()
    return int(customer.size)


def timed_run(url: str) -> dict[str, Any]:
    """One prediction run, timed step by step (in this process: the caller reads our maxrss)."""
    from backend.predictive import runs, scoring
    from backend.predictive.extract import Rules, customer_histories

    engine = make_engine(url)
    steps: dict[str, float] = {}
    with Session(engine) as session:
        started = time.perf_counter()
        histories = customer_histories(session, AS_OF, Rules.of(session, ()))
        steps["extract_s"] = time.perf_counter() - started
        started = time.perf_counter()
        fitted = scoring.fit(histories)
        steps["fit_s"] = time.perf_counter() - started
        started = time.perf_counter()
        scoring.score(histories, fitted, 90 / 7, "pareto_nbd")
        steps["score_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with session_scope(engine) as session:
        outcome = runs.run(session, AS_OF, "cli", evaluate=False)
    steps["full_run_s"] = time.perf_counter() - started
    customers = outcome.summary["customers"]
    return {
        "customers": customers,
        "repeat_customers": outcome.summary["repeat_customers"],
        **steps,
        "customers_scored_per_s": customers / steps["full_run_s"],
        "extract_and_score_per_s": customers / (steps["extract_s"] + steps["score_s"]),
        "pareto_nbd": outcome.summary["pareto_nbd"],
        "converged": outcome.summary["converged"],
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def naive(url: str, customers: int) -> dict[str, Any]:
    """Per customer: one ORM query for their orders, their summary in Python, scalar scoring."""
    from backend.predictive.models import ParetoNbd

    model = ParetoNbd(0.553, 10.578, 0.606, 11.669)
    engine = make_engine(url)
    started = time.perf_counter()
    with Session(engine) as session:
        for customer_id in range(1, customers + 1):
            days = sorted(
                {
                    o.ordered_at.date()
                    for o in session.exec(select(HistoryOrder).where(HistoryOrder.customer_id == customer_id)).all()
                }
            )
            if not days:
                continue
            x, t_x, age = len(days) - 1, (days[-1] - days[0]).days / 7, max((AS_OF - days[0]).days, 1) / 7
            model.p_alive(x, t_x, age)
            model.expected_purchases(90 / 7, x, t_x, age)
            model.p_no_purchase(90 / 7, x, t_x, age)
    elapsed = time.perf_counter() - started
    return {
        "customers": customers,
        "seconds": elapsed,
        "customers_scored_per_s": customers / elapsed,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def history_csv(rows: int) -> str:
    """A history file of ``rows`` one-line orders by rows/4 customers over two years."""
    rng = np.random.default_rng(7)
    days = [(AS_OF - timedelta(days=int(d))).isoformat() for d in rng.integers(0, DAYS, rows)]
    customers, cents = rng.integers(0, max(rows // 4, 1), rows), rng.integers(1, 9999, rows)
    skus, categories = rng.integers(0, 500, rows), rng.integers(0, 30, rows)
    lines = (f"i{n},c{customers[n]},{days[n]},{cents[n] / 100},S{skus[n]},cat{categories[n]}\n" for n in range(rows))
    return "order_id,customer_id,date,total,sku,category\n" + "".join(lines)


def _import_store(url: str) -> Any:
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.add(Retailer(id="imp", name="Imp"))
        session.flush()
        session.add(Store(id="imp-1", name="Imp", currency="EUR", retailer_id="imp"))
    return engine


def import_case(url: str, rows: int) -> dict[str, Any]:
    """The history import path: CSV text checked whole, then written with bulk inserts."""
    from backend.predictive.history import import_history, read_text

    text = history_csv(rows)
    engine = _import_store(url)
    started, cpu = time.perf_counter(), time.process_time()
    orders = read_text(text, AS_OF)
    checked = time.perf_counter() - started
    with session_scope(engine) as session:
        report = import_history(session, "imp-1", orders)
    total = time.perf_counter() - started
    return {
        "rows": rows,
        "orders": report.orders,
        "customers_enrolled": report.customers_enrolled,
        "check_s": checked,
        "total_s": total,
        "cpu_s": time.process_time() - cpu,
        "rows_per_s": rows / total,
    }


def naive_import(url: str, rows: int) -> dict[str, Any]:
    """The obvious import: ``csv.DictReader``, a query per customer, an ORM object per order and
    line (the same checks of dates and totals), one commit."""
    import csv
    import io
    from decimal import Decimal

    from backend.db.models import HistoryLine
    from backend.loyalty.customers import new_custodial_address

    text = history_csv(rows)
    engine = _import_store(url)
    started, cpu = time.perf_counter(), time.process_time()
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        for record in csv.DictReader(io.StringIO(text)):
            day = date.fromisoformat(record["date"])
            total = Decimal(record["total"])
            if day > AS_OF or total < 0:
                raise ValueError(record)
            customer = session.exec(select(Customer).where(Customer.external_id == record["customer_id"])).first()
            if customer is None:
                customer = Customer(external_id=record["customer_id"], address=new_custodial_address(), created_at=now)
                session.add(customer)
                session.flush()
            assert customer.id is not None
            order = HistoryOrder(
                store_id="imp-1",
                order_id=record["order_id"],
                customer_id=customer.id,
                ordered_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                total=total,
                import_id="naive",
                imported_at=now,
            )
            session.add(order)
            session.flush()
            assert order.id is not None
            session.add(
                HistoryLine(order_pk=order.id, line_no=0, sku=record["sku"], category=record["category"], amount=total)
            )
    total_s = time.perf_counter() - started
    return {"rows": rows, "total_s": total_s, "cpu_s": time.process_time() - cpu, "rows_per_s": rows / total_s}


def child(args: argparse.Namespace) -> None:
    result = {
        "run": timed_run,
        "naive": lambda url: naive(url, args.baseline_customers),
        "import": lambda url: import_case(url, args.import_rows),
        "naive_import": lambda url: naive_import(url, args.baseline_rows),
    }[args.child](args.url)
    print(json.dumps(result))


def in_child(case: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        case,
        "--url",
        url,
        "--baseline-customers",
        str(args.baseline_customers),
        "--import-rows",
        str(args.import_rows),
        "--baseline-rows",
        str(args.baseline_rows),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--baseline-customers", type=int, default=2_000)
    parser.add_argument("--import-rows", type=int, default=300_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000, help="rows of the naive import")
    parser.add_argument("--child", choices=["run", "naive", "import", "naive_import"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from backend.db.cluster import LocalPostgres
    from backend.observability import configure_logging

    configure_logging(level="WARNING")
    work = Path(tempfile.mkdtemp(prefix="credance-bench-predict-"))
    work.chmod(0o755)  # the PostgreSQL server may run as another user
    postgres = LocalPostgres(work / "postgres", free_port()) if "postgresql" in args.databases else None
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
        },
        "cases": [],
    }
    try:
        if postgres is not None:
            postgres.start()
        for database in args.databases:
            for size in args.sizes:
                name = f"bench_{size}"
                url = (
                    postgres.create_database(name)
                    if database == "postgresql" and postgres
                    else (f"sqlite:///{work / (name + '.db')}")
                )
                print(f"{database}: simulating {size:,} customers…", flush=True)
                orders = prepare(url, size)
                print(f"{database}: {orders:,} orders; timing a run…", flush=True)
                case = {"database": database, "size": size, "orders": orders, "run": in_child("run", url, args)}
                if size == min(args.sizes):
                    print(f"{database}: naive per-customer loop on {args.baseline_customers:,} customers…", flush=True)
                    case["naive"] = in_child("naive", url, args)
                results["cases"].append(case)
                print(json.dumps(case, indent=1, default=str), flush=True)
            if args.import_rows:
                url = (
                    postgres.create_database("bench_import")
                    if database == "postgresql" and postgres
                    else (f"sqlite:///{work / 'import.db'}")
                )
                print(f"{database}: history import of {args.import_rows:,} rows…", flush=True)
                results.setdefault("import", {})[database] = in_child("import", url, args)
                print(json.dumps(results["import"][database]), flush=True)
                url = (
                    postgres.create_database("bench_naive_import")
                    if database == "postgresql" and postgres
                    else (f"sqlite:///{work / 'naive_import.db'}")
                )
                print(f"{database}: naive import of {args.baseline_rows:,} rows…", flush=True)
                results.setdefault("naive_import", {})[database] = in_child("naive_import", url, args)
                print(json.dumps(results["naive_import"][database]), flush=True)
        results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["figures"] = figures(results)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, default=str))
    print(table(results["figures"]))
    print(f"written to {OUT.relative_to(ROOT)}")


NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def figures(results: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``bench/report.py`` compares: each figure with its naive baseline of the same run."""
    found: list[dict[str, Any]] = []
    naive_rates = {
        case["database"]: case["naive"]["customers_scored_per_s"] for case in results["cases"] if "naive" in case
    }
    for case in results["cases"]:
        where = f"{case['size']:,} customers, {NAMES[case['database']]}"
        found.append(
            {
                "name": f"customers scored per second, {where}",
                "value": case["run"]["customers_scored_per_s"],
                "baseline": naive_rates.get(case["database"]),
                "unit": "/s",
                "higher_is_better": True,
            }
        )
        found.append(
            {
                "name": f"memory peak of the run, {where}",
                "value": case["run"]["max_rss_mb"],
                "baseline": None,
                "unit": "MB",
                "higher_is_better": False,
            }
        )
    for database, measured in results.get("import", {}).items():
        naive_import = results.get("naive_import", {}).get(database, {})
        found.append(
            {
                "name": f"history rows imported per second, {measured['rows']:,} rows, {NAMES[database]}",
                "value": measured["rows_per_s"],
                "baseline": naive_import.get("rows_per_s"),
                "unit": "/s",
                "higher_is_better": True,
            }
        )
    return found


def table(found: list[dict[str, Any]]) -> str:
    lines = [f"{'figure':<62}{'ours':>12}{'naive':>12}  unit"]
    for figure in found:
        baseline = "—" if figure["baseline"] is None else f"{figure['baseline']:,.0f}"
        lines.append(f"{figure['name']:<62}{figure['value']:>12,.0f}{baseline:>12}  {figure['unit']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
