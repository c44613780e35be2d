"""After the storm: wait until everything accepted has settled, then prove that every accepted
request is reflected exactly once on chain and in SQL, and that nothing else was minted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from web3 import Web3
from web3.contract import Contract

from backend.chain.client import connect
from backend.chain.context import context_for
from backend.db.engine import make_engine
from backend.db.models import (
    ChainCursor,
    Customer,
    EpcisAnchor,
    EpcisEventRecord,
    MirrorAccount,
    MirrorTokenState,
    Operation,
    OperationStatus,
    Purchase,
)
from backend.provenance.epcis.hashing import hash_digest
from backend.settings import PROJECT_ROOT
from tests.faults.cluster import Cluster
from tests.faults.load import LoadStats


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    reconcile: str = "not run"

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    def render(self) -> str:
        width = max(len(k) for k in self.counts) if self.counts else 10
        lines = ["crash test counts:"] + [f"  {k:<{width}}  {v:>8,}" for k, v in self.counts.items()]
        lines.append(f"  reconcile: {self.reconcile}")
        lines += [f"  PROBLEM: {p}" for p in self.problems] or ["  no problem found"]
        return "\n".join(lines)


def in_flight(engine: Engine) -> int:
    """Operations not yet confirmed, plus accepted EPCIS events not yet sealed into a batch."""
    with Session(engine) as session:
        operations = session.exec(select(func.count()).select_from(Operation).where(
            col(Operation.status).in_([OperationStatus.PENDING, OperationStatus.SENT]))).one()  # fmt: skip
        unsealed = session.exec(select(func.count()).select_from(EpcisEventRecord).where(
            col(EpcisEventRecord.anchor_root).is_(None))).one()  # fmt: skip
    return int(operations) + int(unsealed)


def wait_settled(cluster: Cluster, engine: Engine, w3: Web3, timeout: float = 180.0) -> None:
    """Until no operation is in flight and the indexer has reached the head."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster.restart_dead()
        with Session(engine) as session:
            cursor = session.get(ChainCursor, "indexer")
        if in_flight(engine) == 0 and cursor is not None and cursor.block_number >= w3.eth.block_number:
            return
        time.sleep(0.25)
    raise TimeoutError(f"{in_flight(engine)} operations still in flight after {timeout:.0f} s\n{cluster.log_tail()}")


def chain_events(points: Contract, name: str, from_block: int) -> list[dict[str, Any]]:
    event = getattr(points.events, name)
    logs = points.w3.eth.get_logs({"address": points.address, "fromBlock": from_block, "toBlock": "latest",
                                   "topics": [event().topic]})  # type: ignore[typeddict-item]  # fmt: skip
    return [dict(event().process_log(entry)["args"]) for entry in logs]


def run_reconcile(cluster: Cluster) -> tuple[int, str] | None:
    """`credance reconcile` if this version has it (the mirror work brings it)."""
    command = [sys.executable, "-m", "backend.cli.main", "reconcile"]
    help_run = subprocess.run([*command, "--help"], env=cluster.env(), cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    if help_run.returncode != 0:
        return None
    run = subprocess.run(command, env=cluster.env(), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    return run.returncode, (run.stdout + run.stderr)[-3000:]


def log_events(cluster: Cluster, *names: str) -> dict[str, int]:
    """How often the services logged these events (JSON log lines)."""
    counts = dict.fromkeys(names, 0)
    for service in cluster.services.values():
        if service.log_path.exists():
            for line in service.log_path.read_text(errors="replace").splitlines():
                for name in names:
                    counts[name] += f'"{name}"' in line
    return counts


def verify_captures(report: Report, stats: LoadStats, engine: Engine, cluster: Cluster) -> None:
    """Every accepted EPCIS event stored once, sealed, and provably anchored on chain once."""
    assert cluster.manifest is not None
    w3 = connect(f"http://127.0.0.1:{cluster.chain_port}")
    registry = context_for(w3, 31337, cluster.manifest).registry
    captures = [a for a in stats.accepted if a.kind == "capture"]
    event_ids = [e["eventID"] for a in captures for e in a.request["epcisBody"]["eventList"]]
    with Session(engine) as session:
        records = {r.event_id: r for r in session.exec(select(EpcisEventRecord)).all()}
        anchors = {a.root: a for a in session.exec(select(EpcisAnchor)).all()}
        anchor_ops = {op.confirm_key: op for op in session.exec(select(Operation).where(
            Operation.kind == "anchor_events")).all()}  # fmt: skip
    topic = registry.events.EventsAnchored().topic
    logs = registry.w3.eth.get_logs({"address": registry.address, "fromBlock": cluster.manifest.start_block,
                                     "toBlock": "latest", "topics": [topic]})  # fmt: skip
    on_chain = Counter(
        "0x" + bytes(registry.events.EventsAnchored().process_log(e)["args"]["root"]).hex() for e in logs
    )
    report.counts.update({
        "captures accepted": len(captures),
        "captured events accepted": len(event_ids),
        "event batches in SQL": len(anchors),
        "event batches on chain": sum(on_chain.values()),
    })  # fmt: skip
    report.check(len(set(event_ids)) == len(event_ids), "an event was accepted twice")
    report.check(all(n == 1 for n in on_chain.values()), "a batch was anchored twice")
    report.check(set(on_chain) == set(anchors), f"batches in SQL and on chain differ: "
                 f"{sorted(set(anchors) ^ set(on_chain))[:3]}")  # fmt: skip
    report.check(all(op.status == OperationStatus.CONFIRMED for op in anchor_ops.values()),
                 "an anchoring operation is not confirmed")  # fmt: skip
    for event_id in event_ids:
        record = records.get(event_id)
        if record is None or record.anchor_root is None or record.anchor_proof is None:
            report.problems.append(f"accepted event {event_id} is {'missing' if record is None else 'not sealed'}")
            continue
        proof = [bytes.fromhex(p[2:]) for p in json.loads(record.anchor_proof)]
        anchored = registry.functions.isEventAnchored(hash_digest(record.event_hash), record.anchor_root, proof).call()
        report.check(anchored, f"event {event_id}: its proof does not verify on chain")


def verify(cluster: Cluster, stats: LoadStats) -> Report:
    report = Report()
    assert cluster.manifest is not None
    engine = make_engine(cluster.settings.resolved_database_url)
    w3 = connect(f"http://127.0.0.1:{cluster.chain_port}")
    wait_settled(cluster, engine, w3)
    points = context_for(w3, 31337, cluster.manifest).points
    start = cluster.manifest.start_block

    purchases = [a for a in stats.accepted if a.kind == "purchase"]
    report.counts.update({
        "purchases accepted": len(purchases),
        "requests retried": sum(stats.retries.values()),
        **{f"retried after {reason}": n for reason, n in stats.retries.items()},
        "answers replayed": stats.replayed,
        "requests refused (4xx)": len(stats.rejected),
        "requests never answered": len(stats.unknown),
    })  # fmt: skip
    report.check(not stats.rejected, f"requests refused: {stats.rejected[:3]}")
    report.check(not stats.unknown, f"requests never answered: {stats.unknown[:5]}")

    # --- SQL: each accepted order once, its operation confirmed -------------------------------
    with Session(engine) as session:
        rows = session.exec(select(Purchase).where(Purchase.store_id == "demo-store")).all()
        by_order = Counter(p.order_id for p in rows)
        sql_purchases = {p.order_id: p for p in rows}
        operations = {op.id: op for op in session.exec(select(Operation).where(Operation.kind == "award")).all()}
        addresses = {c.id: c.address for c in session.exec(select(Customer)).all()}
        mirror = {a.address: a for a in session.exec(select(MirrorAccount)).all()}
        token = session.get(MirrorTokenState, 1)
        failed = session.exec(select(Operation).where(Operation.status == OperationStatus.FAILED)).all()
    report.check(all(n == 1 for n in by_order.values()), "an order is recorded twice in SQL")
    report.check(not failed, f"failed operations: {[(op.id, op.kind, op.last_error) for op in failed][:3]}")
    expected_points: dict[str, int] = defaultdict(int)
    for accepted in purchases:
        order_id = accepted.key
        row = sql_purchases.get(order_id)
        if row is None:
            report.problems.append(f"accepted order {order_id} is not in SQL")
            continue
        report.check(json.loads(row.response) == {**accepted.response, "status": json.loads(row.response)["status"]},
                     f"order {order_id}: SQL answer differs from the one given")  # fmt: skip
        if row.operation_id is not None:
            op = operations.get(row.operation_id)
            report.check(op is not None and op.status == OperationStatus.CONFIRMED,
                         f"order {order_id}: award operation not confirmed")  # fmt: skip
            expected_points[addresses[row.customer_id]] += row.points_awarded

    # --- chain: each award applied once, nothing else minted --------------------------------
    awarded = chain_events(points, "PointsAwarded", start)
    per_op = Counter(int(e["operationId"]) for e in awarded)
    report.counts.update({
        "awards on chain": len(awarded),
        "award operations in SQL": len(operations),
        "chain crashes": cluster.chain_crashes,
        **{f"{name} kills": s.kills for name, s in cluster.services.items()},
        **{f"{name} starts": s.starts for name, s in cluster.services.items()},
        "blocks": w3.eth.block_number,
    })  # fmt: skip
    twice = [op for op, n in per_op.items() if n > 1]
    report.check(not twice, f"operations applied twice: {twice[:5]}")
    report.check(set(per_op) == set(operations), f"awards on chain without an SQL operation: "
                 f"{sorted(set(per_op) - set(operations))[:5]}; operations never applied: "
                 f"{sorted(set(operations) - set(per_op))[:5]}")  # fmt: skip
    for op_id, op in operations.items():
        event = next((e for e in awarded if int(e["operationId"]) == op_id), None)
        if event is not None:
            report.check(int(event["amount"]) == op.amount and event["account"] == Web3.to_checksum_address(op.account
                         or ""), f"operation {op_id} applied with other values")  # fmt: skip

    supply = points.functions.totalSupply().call()
    report.counts["total supply"] = supply
    report.check(supply == sum(expected_points.values()),
                 f"total supply {supply} != points of accepted orders {sum(expected_points.values())}")  # fmt: skip
    report.check(token is not None and token.total_supply == supply, "mirrored total supply differs from the chain")
    for address, points_expected in expected_points.items():
        on_chain = points.functions.balanceOf(address).call()
        report.check(on_chain == points_expected, f"{address}: chain balance {on_chain} != accepted {points_expected}")
        mirrored = mirror[address].balance if address in mirror else None
        report.check(mirrored == on_chain, f"{address}: mirror balance {mirrored} != chain {on_chain}")

    verify_captures(report, stats, engine, cluster)
    report.counts.update(log_events(cluster, "indexer.reorg", "sender.dropped", "sender.rebroadcast",
                                    "sender.already_applied"))  # fmt: skip
    reconciled = run_reconcile(cluster)
    if reconciled is None:
        report.reconcile = "not available in this version: chain and SQL compared directly above"
    else:
        code, output = reconciled
        report.reconcile = "zero differences" if code == 0 else f"FAILED (exit {code})"
        report.check(code == 0, f"credance reconcile found differences:\n{output}")
    engine.dispose()
    return report
