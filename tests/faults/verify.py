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
    MemberState,
    MirrorAccount,
    MirrorTokenState,
    Operation,
    OperationStatus,
    PointLot,
    Purchase,
)
from backend.provenance.epcis.public_form import anchored_hash
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
        operations = session.exec(
            select(func.count())
            .select_from(Operation)
            .where(col(Operation.status).in_([OperationStatus.PENDING, OperationStatus.SENT]))
        ).one()
        unsealed = session.exec(
            select(func.count()).select_from(EpcisEventRecord).where(col(EpcisEventRecord.anchor_root).is_(None))
        ).one()
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
    logs = points.w3.eth.get_logs(
        {"address": points.address, "fromBlock": from_block, "toBlock": "latest", "topics": [event().topic]}
    )  # type: ignore[typeddict-item]
    return [dict(event().process_log(entry)["args"]) for entry in logs]


def run_reconcile(cluster: Cluster) -> tuple[int, str] | None:
    """`credance reconcile` if this version has it (the mirror work brings it)."""
    command = [sys.executable, "-m", "backend.cli.main", "reconcile"]
    help_run = subprocess.run(
        [*command, "--help"], env=cluster.env(), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
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


def rollbacks(cluster: Cluster) -> list[tuple[int, int]]:
    """(head, ancestor) of each mirror rollback, from the indexer's ``indexer.reorg`` lines."""
    found = []
    log_path = cluster.services["indexer"].log_path
    for line in log_path.read_text(errors="replace").splitlines() if log_path.exists() else []:
        if '"indexer.reorg"' in line:
            entry = json.loads(line)
            found.append((int(entry["head"]), int(entry["ancestor"])))
    return found


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
        anchor_ops = {
            op.confirm_key: op for op in session.exec(select(Operation).where(Operation.kind == "anchor_events")).all()
        }
    topic = registry.events.EventsAnchored().topic
    logs = registry.w3.eth.get_logs(
        {"address": registry.address, "fromBlock": cluster.manifest.start_block, "toBlock": "latest", "topics": [topic]}
    )
    on_chain = Counter(
        "0x" + bytes(registry.events.EventsAnchored().process_log(e)["args"]["root"]).hex() for e in logs
    )
    report.counts.update(
        {
            "captures accepted": len(captures),
            "captured events accepted": len(event_ids),
            "event batches in SQL": len(anchors),
            "event batches on chain": sum(on_chain.values()),
        }
    )
    report.check(len(set(event_ids)) == len(event_ids), "an event was accepted twice")
    report.check(all(n == 1 for n in on_chain.values()), "a batch was anchored twice")
    report.check(
        set(on_chain) == set(anchors), f"batches in SQL and on chain differ: {sorted(set(anchors) ^ set(on_chain))[:3]}"
    )
    report.check(
        all(op.status == OperationStatus.CONFIRMED for op in anchor_ops.values()),
        "an anchoring operation is not confirmed",
    )
    for event_id in event_ids:
        record = records.get(event_id)
        if record is None or record.anchor_root is None or record.anchor_proof is None:
            report.problems.append(f"accepted event {event_id} is {'missing' if record is None else 'not sealed'}")
            continue
        proof = [bytes.fromhex(p[2:]) for p in json.loads(record.anchor_proof)]
        value = anchored_hash(record.event_hash, record.event_salt, record.public_hash)
        anchored = registry.functions.isEventAnchored(value, record.anchor_root, proof).call()
        report.check(anchored, f"event {event_id}: its proof does not verify on chain")


def verify_loyalty(report: Report, stats: LoadStats, engine: Engine, cluster: Cluster) -> None:
    """Each accepted purchase and refund recorded once in SQL and applied once on chain; each
    member's position (balance - debt) is exactly what the accepted answers said; nothing else."""
    assert cluster.manifest is not None
    w3 = connect(f"http://127.0.0.1:{cluster.chain_port}")
    points = context_for(w3, 31337, cluster.manifest).points
    purchases = [a for a in stats.accepted if a.kind == "purchase"]
    refunds = [a for a in stats.accepted if a.kind == "refund"]
    with Session(engine) as session:
        rows = session.exec(select(Purchase).where(Purchase.store_id == "demo-store")).all()
        customers = {c.id: c for c in session.exec(select(Customer)).all()}
        operations = {
            op.id: op
            for op in session.exec(select(Operation).where(col(Operation.kind).in_(["award", "reverse"]))).all()
        }
        mirror = {a.address: a for a in session.exec(select(MirrorAccount)).all()}
        token = session.get(MirrorTokenState, 1)
        failed = session.exec(select(Operation).where(Operation.status == OperationStatus.FAILED)).all()
        lots = dict(
            session.exec(
                select(PointLot.customer_id, func.sum(PointLot.remaining)).group_by(col(PointLot.customer_id))  # type: ignore[call-overload]
            ).all()
        )
        debts = {m.customer_id: m.debt for m in session.exec(select(MemberState)).all()}
    books = {c.address: (int(lots.get(i) or 0), debts.get(i, 0)) for i, c in customers.items()}
    report.check(len({p.order_id for p in rows}) == len(rows), "an order is recorded twice in SQL")
    report.check(not failed, f"failed operations: {[(op.id, op.kind, op.last_error) for op in failed][:3]}")
    by_order = {p.order_id: p for p in rows}

    # What the accepted answers promised, per member: balance - debt on chain must equal it.
    position: dict[str, int] = defaultdict(int)
    promised_ops: set[int] = set()
    for accepted in purchases:
        row = by_order.get(accepted.key)
        if row is None:
            report.problems.append(f"accepted order {accepted.key} is not in SQL")
            continue
        report.check(
            json.loads(row.response) == {**accepted.response, "status": json.loads(row.response)["status"]},
            f"order {accepted.key}: SQL answer differs from the one given",
        )
        position[customers[row.customer_id].address] += int(accepted.response["points_awarded"])
        if accepted.response.get("operation_id"):
            promised_ops.add(int(accepted.response["operation_id"]))
    for accepted in refunds:
        row = by_order[accepted.request["order_id"]]
        position[customers[row.customer_id].address] -= int(accepted.response["points_reversed"])
        if accepted.response.get("operation_id"):
            promised_ops.add(int(accepted.response["operation_id"]))

    start = cluster.manifest.start_block
    awarded = chain_events(points, "PointsAwarded", start)
    reversed_ = chain_events(points, "PointsReversed", start)
    per_op = Counter(int(e["operationId"]) for e in [*awarded, *reversed_])
    report.counts.update(
        {
            "purchases accepted": len(purchases),
            "refunds accepted": len(refunds),
            "awards on chain": len(awarded),
            "reversals on chain": len(reversed_),
            "loyalty operations in SQL": len(operations),
            "chain crashes": cluster.chain_crashes,
            **{f"{name} kills": s.kills for name, s in cluster.services.items()},
            **{f"{name} starts": s.starts for name, s in cluster.services.items()},
            "blocks": w3.eth.block_number,
        }
    )
    twice = [op for op, n in per_op.items() if n > 1]
    report.check(not twice, f"operations applied twice: {twice[:5]}")
    report.check(
        set(per_op) == set(operations),
        f"on chain without an SQL operation: "
        f"{sorted(set(per_op) - set(operations))[:5]}; never applied: "
        f"{sorted(set(operations) - set(per_op))[:5]}",
    )
    report.check(promised_ops <= set(per_op), f"accepted but not on chain: {sorted(promised_ops - set(per_op))[:5]}")
    report.check(
        all(op.status == OperationStatus.CONFIRMED for op in operations.values()),
        "a loyalty operation is not confirmed",
    )
    for event in awarded:
        op = operations.get(int(event["operationId"]))
        same = op is not None and (int(event["amount"]), event["account"]) == (
            op.amount,
            Web3.to_checksum_address(op.account or ""),
        )
        report.check(same, f"award {event['operationId']} differs from SQL")
    for event in reversed_:
        op = operations.get(int(event["operationId"]))
        report.check(
            op is not None and int(event["burned"]) + int(event["debtIncurred"]) == op.amount,
            f"reversal {event['operationId']} differs from SQL",
        )

    supply = points.functions.totalSupply().call()
    minted = sum(int(e["amount"]) - int(e["debtRepaid"]) for e in awarded)
    burned = sum(int(e["burned"]) for e in reversed_)
    report.counts["total supply"] = supply
    report.check(supply == minted - burned, f"total supply {supply} != minted {minted} - burned {burned}")
    report.check(token is not None and token.total_supply == supply, "mirrored total supply differs from the chain")
    balances = 0
    for address, expected in position.items():
        balance, debt = points.functions.balanceOf(address).call(), points.functions.debtOf(address).call()
        balances += balance
        report.check(balance - debt == expected, f"{address}: chain balance - debt {balance - debt} != {expected}")
        mirrored = (mirror[address].balance, mirror[address].debt) if address in mirror else None
        report.check(mirrored == (balance, debt), f"{address}: mirror {mirrored} != chain {(balance, debt)}")
        # The loyalty books: points left in the member's lots, and the debt SQL expects.
        report.check(books.get(address) == (balance, debt), f"{address}: books {books.get(address)} != chain")
    report.check(balances == supply, f"balances of the members {balances} != total supply {supply}")


def verify(cluster: Cluster, stats: LoadStats) -> Report:
    report = Report()
    assert cluster.manifest is not None
    engine = make_engine(cluster.settings.resolved_database_url)
    w3 = connect(f"http://127.0.0.1:{cluster.chain_port}")
    wait_settled(cluster, engine, w3)
    report.counts.update(
        {
            "requests retried": sum(stats.retries.values()),
            **{f"retried after {reason}": n for reason, n in sorted(stats.retries.items())},
            "answers replayed": stats.replayed,
            "requests refused (4xx)": len(stats.rejected),
            "requests never answered": len(stats.unknown),
        }
    )
    report.check(not stats.rejected, f"requests refused: {stats.rejected[:3]}")
    report.check(not stats.unknown, f"requests never answered: {stats.unknown[:5]}")
    verify_loyalty(report, stats, engine, cluster)
    verify_captures(report, stats, engine, cluster)
    # How the services noticed and recovered (names of their log events).
    report.counts.update(
        log_events(
            cluster,
            "indexer.reorg",
            "sender.reorged_out",
            "sender.dropped",
            "sender.rebroadcast",
            "sender.nonce_gap",
            "sender.recovered",
            "sender.already_applied",
        )
    )
    # A rollback undoes what the chain forgot (a second or so of blocks, down to the nearest block
    # the mirror kept), never the whole mirror: a chain that is merely unreachable is no reorg.
    undone = rollbacks(cluster)
    report.counts["mirror rollbacks"] = len(undone)
    report.counts["deepest mirror rollback (blocks)"] = max((h - a for h, a in undone), default=0)
    report.check(
        all(a >= cluster.manifest.start_block for _, a in undone),
        f"the mirror was rolled back to the deployment (re-indexed from scratch): {undone}",
    )
    reconciled = run_reconcile(cluster)
    if reconciled is None:
        report.reconcile = "not available in this version: chain and SQL compared directly above"
    else:
        code, output = reconciled
        report.reconcile = "zero differences" if code == 0 else f"FAILED (exit {code})"
        report.check(code == 0, f"credance reconcile found differences:\n{output}")
    engine.dispose()
    return report
