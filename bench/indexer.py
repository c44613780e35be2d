"""Indexer benchmark: backfill ≥ 100,000 events from a fresh Anvil into SQLite and PostgreSQL,
against a naive baseline measured in the same run, then the steady-state lag at the head.

    .venv/bin/python -m bench.indexer [--events 100000] [--per-tx 500] [--lag-seconds 20]

- Load: ``awardBatch`` transactions signed locally (each award = ``Transfer`` + ``PointsAwarded``),
  to 5,000 customers in turn.
- Backfill: ``Indexer.sync()`` from the deployment block to the head into a freshly migrated
  database (events, balances, ledger, outbox confirmations and checkpoint per transaction),
  then ``reconcile`` proves the mirror equals the chain.
- Baseline: web3.py's per-event filter loop (``contract.events.X.get_logs`` for every event
  type, web3 decoding) and one ORM object per event, into SQLite — raw events only, no
  derived tables.
- Lag: Anvil switched to one block per second while awards keep arriving; the running indexer
  (default 200 ms poll) is sampled every 20 ms: blocks between the chain head and the mirror.
- Custody and state (``--claims``): on an Anvil of its own, as many customers each get an award
  and then claim a wallet (``WalletClaimed`` + ``Transfer``, ``--claims-per-block`` a block), with
  a transfer-policy change or a rule set every ``--state-every`` claims and a few pause/unpause
  pairs: the latest-value state that grows with the customer base. Backfilled into SQLite and
  PostgreSQL; its naive baseline is the same indexer plus what every range holding a state event
  cost before issue 12: custody rebuilt from every stored ``WalletClaimed``, every mirror account
  touched (``naive_state_rebuild``). Then 30 more customers claim a wallet, each in a block of
  its own, indexed one block a step as at the head (milliseconds per step, SQLite, both ways).

Prints a table and writes ``bench/out/indexer.json``. Numbers depend on the machine and its
load (the load average is recorded with them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from eth_account import Account  # noqa: E402
from eth_utils import function_signature_to_4byte_selector  # noqa: E402
from sqlalchemy import update  # noqa: E402
from sqlmodel import Session  # noqa: E402

from backend.chain.anvil import dev_private_keys, start_anvil, stop_anvil  # noqa: E402
from backend.chain.bootstrap import ensure_deployment  # noqa: E402
from backend.chain.client import connect  # noqa: E402
from backend.chain.context import ChainContext, context_for  # noqa: E402
from backend.chain.keys import DEV_ACCOUNT  # noqa: E402
from backend.chain.local_signer import LocalSigner  # noqa: E402
from backend.db.cluster import LocalPostgres  # noqa: E402
from backend.db.engine import make_engine  # noqa: E402
from backend.db.migrate import upgrade  # noqa: E402
from backend.db.models import ChainCursor, ChainEvent, MirrorAccount  # noqa: E402
from backend.db.schema import table_of  # noqa: E402
from backend.db.upsert import upsert_add  # noqa: E402
from backend.indexer.handlers import loyalty as loyalty_handler  # noqa: E402
from backend.indexer.handlers.common import stored_events  # noqa: E402
from backend.indexer.reconcile import reconcile  # noqa: E402
from backend.indexer.runner import Indexer  # noqa: E402
from backend.observability import configure_logging  # noqa: E402
from backend.settings import Settings  # noqa: E402
from tests.support import award_batch_tx, free_port  # noqa: E402

OUT = PROJECT_ROOT / "bench" / "out" / "indexer.json"
CUSTOMERS = 5_000
CLAIM_WALLET = function_signature_to_4byte_selector("claimWallet(uint64,address,address)")
HEAD_CLAIMS = 30
STATE_EVENTS = ("TransferPolicyUpdated", "Paused", "Unpaused", "WalletClaimed", "RuleSetPublished")


def generate(ctx: ChainContext, home: Path, events: int, per_tx: int) -> dict[str, Any]:
    keys = dev_private_keys(home)
    operator = LocalSigner(ctx.w3, keys[DEV_ACCOUNT["operator"]], ctx.chain_id)  # PROGRAM_MANAGER_ROLE
    issuer = LocalSigner(ctx.w3, keys[DEV_ACCOUNT["issuer"]], ctx.chain_id)
    publish = ctx.points.functions.publishRuleSet(1, b"\x01" * 32)
    operator.transact(publish.build_transaction({"from": operator.address}))
    customers = [str(Account.create().address) for _ in range(CUSTOMERS)]
    transactions = -(-events // (2 * per_tx))
    began = time.perf_counter()
    operation, hashes = 1, []
    for n in range(transactions):
        group = customers[(n * per_tx) % CUSTOMERS :][:per_tx]
        hashes.append(issuer.send(award_batch_tx(ctx, group, operation)))  # type: ignore[arg-type]
        operation += len(group)
    for tx_hash in hashes:
        issuer.wait(tx_hash, timeout=600)
    seconds = time.perf_counter() - began
    return {"transactions": transactions, "awards": operation - 1, "seconds": round(seconds, 1)}


def backfill(engine_url: str, ctx: ChainContext) -> dict[str, Any]:
    upgrade(engine_url)
    engine = make_engine(engine_url)
    indexer = Indexer(engine, ctx)
    began = time.perf_counter()
    events = 0
    steps = 0
    while (result := indexer.step()) is not None:
        events += result.events
        steps += 1
    seconds = time.perf_counter() - began
    checked = time.perf_counter()
    report = reconcile(engine, ctx)
    engine.dispose()
    return {
        "events": events,
        "steps": steps,
        "seconds": round(seconds, 2),
        "events_per_second": round(events / seconds),
        "reconcile_ok": report.ok,
        "reconcile_seconds": round(time.perf_counter() - checked, 2),
    }


def _claim_tx(ctx: ChainContext, operation: int, custodial: str, wallet: str) -> dict[str, Any]:
    words = operation.to_bytes(32, "big") + bytes(12) + bytes.fromhex(custodial[2:]) + bytes(12)
    return {
        "to": ctx.points.address,
        "data": "0x" + (CLAIM_WALLET + words + bytes.fromhex(wallet[2:])).hex(),
        "gas": 200_000,
    }


def generate_state(ctx: ChainContext, home: Path, claims: int, state_every: int, per_block: int) -> dict[str, Any]:
    """Awards to ``claims`` new customers, then each claims a wallet, ``per_block`` claims a block
    (mined by hand: one block per transaction would only measure Anvil); state events between."""
    keys = dev_private_keys(home)
    issuer = LocalSigner(ctx.w3, keys[DEV_ACCOUNT["issuer"]], ctx.chain_id)
    operator = LocalSigner(ctx.w3, keys[DEV_ACCOUNT["operator"]], ctx.chain_id)
    pauser = LocalSigner(ctx.w3, keys[DEV_ACCOUNT["deployer"]], ctx.chain_id)
    points = ctx.points.functions
    began = time.perf_counter()
    operator.transact(points.publishRuleSet(1, b"\x01" * 32).build_transaction({"from": operator.address}))
    customers = [str(Account.create().address) for _ in range(claims)]
    operation = 1
    for start in range(0, claims, 500):
        issuer.transact(award_batch_tx(ctx, customers[start : start + 500], operation), timeout=600)  # type: ignore[arg-type]
        operation += len(customers[start : start + 500])
    make_request = ctx.w3.provider.make_request  # type: ignore[attr-defined]
    make_request("evm_setAutomine", [False])
    state_events, version, last = 1, 1, None
    try:
        for n, custodial in enumerate(customers, start=1):
            last = issuer.send(_claim_tx(ctx, operation, custodial, str(Account.create().address)))  # type: ignore[arg-type]
            operation += 1
            if n % state_every == 0:
                if (n // state_every) % 2:
                    call = points.setTransferPolicy((n // state_every) % 3 != 0, n)
                else:
                    version += 1
                    call = points.publishRuleSet(version, version.to_bytes(32, "big"))
                operator.send(call.build_transaction({"from": operator.address, "gas": 200_000}))
                state_events += 1
            if n % per_block == 0 or n == claims:
                make_request("evm_mine", [])
    finally:
        make_request("evm_setAutomine", [True])
    if last is not None:
        issuer.wait(last, timeout=600)
    for _ in range(3):  # pause pairs: claims would be refused while paused, so after them
        pauser.transact(points.pause().build_transaction({"from": pauser.address}))
        pauser.transact(points.unpause().build_transaction({"from": pauser.address}))
        state_events += 2
    return {
        "customers": claims,
        "claims": claims,
        "claims_per_block": per_block,
        "state_events": state_events,
        "blocks": int(ctx.w3.eth.block_number),
        "seconds": round(time.perf_counter() - began, 1),
    }


def state_case(work: Path, postgres: LocalPostgres, claims: int, state_every: int, per_block: int) -> dict[str, Any]:
    """The custody and state case, on an Anvil of its own (a fresh deployment)."""
    home = work / "state"
    port = free_port()
    start_anvil(home, port, PROJECT_ROOT / "node_modules", persist=False)
    try:
        settings = Settings(home=home, chain_port=port, deployments_dir=home / "deployments")
        manifest, _ = ensure_deployment(settings, force=True)
        ctx = context_for(connect(settings.resolved_rpc_url, timeout=300), manifest.chain_id, manifest)
        result: dict[str, Any] = {"load": generate_state(ctx, home, claims, state_every, per_block)}
        print("  backfill into SQLite, PostgreSQL, then the naive state rebuild into SQLite…", flush=True)
        result["sqlite"] = state_backfill(f"sqlite:///{home / 'state.db'}", ctx)
        result["postgresql"] = state_backfill(postgres.create_database("state"), ctx)
        result["naive"] = state_backfill(f"sqlite:///{home / 'naive.db'}", ctx, naive=True)
        print("  then blocks of one wallet claim each, indexed one by one as at the head…", flush=True)
        claims_at_head(ctx, home, HEAD_CLAIMS)
        result["head"] = head_steps(f"sqlite:///{home / 'state.db'}", ctx)
        result["head_naive"] = head_steps(f"sqlite:///{home / 'naive.db'}", ctx, naive=True)
        return result
    finally:
        stop_anvil(home)


def naive_state_rebuild(session: Session) -> None:
    """What a range holding any state event cost before issue 12: custody flags rebuilt from every
    stored ``WalletClaimed`` (parsed again), every mirror account touched."""
    custodied = [e.args["wallet"] for e in stored_events(session, STATE_EVENTS) if e.name == "WalletClaimed"]
    accounts = table_of(MirrorAccount)
    session.execute(update(accounts).values(self_custodied=False))
    if custodied:
        upsert_add(
            session,
            accounts,
            ["address"],
            [{"address": a, "balance": 0, "debt": 0, "self_custodied": True, "last_block": 0} for a in custodied],
            add=[],
            replace=["self_custodied"],
        )


@contextmanager
def naive_state(naive: bool) -> Iterator[None]:
    """``naive``: the indexer runs ``naive_state_rebuild`` after every range holding a state event."""
    if not naive:
        yield
        return
    original = loyalty_handler.apply

    def apply_then_rebuild(session: Session, events: list[Any], block_times: dict[int, int]) -> Any:
        found = original(session, events, block_times)
        if any(e.name in STATE_EVENTS for e in events):
            naive_state_rebuild(session)
        return found

    loyalty_handler.apply = apply_then_rebuild  # type: ignore[assignment]
    try:
        yield
    finally:
        loyalty_handler.apply = original  # type: ignore[assignment]


def state_backfill(engine_url: str, ctx: ChainContext, naive: bool = False) -> dict[str, Any]:
    with naive_state(naive):
        return backfill(engine_url, ctx)


def claims_at_head(ctx: ChainContext, home: Path, count: int) -> None:
    """``count`` new customers get an award, then each claims a wallet in a block of its own."""
    issuer = LocalSigner(ctx.w3, dev_private_keys(home)[DEV_ACCOUNT["issuer"]], ctx.chain_id)
    customers = [str(Account.create().address) for _ in range(count)]
    operation = 10_000_000
    issuer.transact(award_batch_tx(ctx, customers, operation))  # type: ignore[arg-type]
    for n, custodial in enumerate(customers):
        issuer.transact(_claim_tx(ctx, operation + count + n, custodial, str(Account.create().address)))  # type: ignore[arg-type]


def head_steps(engine_url: str, ctx: ChainContext, naive: bool = False) -> dict[str, Any]:
    """Index the blocks above the mirror one at a time, as at the head: milliseconds per step."""
    engine = make_engine(engine_url)
    indexer = Indexer(engine, ctx, max_range=1)
    took: list[float] = []
    with naive_state(naive):
        while True:
            began = time.perf_counter()
            if indexer.step() is None:
                break
            took.append((time.perf_counter() - began) * 1000)
    report = reconcile(engine, ctx)
    engine.dispose()
    return {
        "blocks": len(took),
        "median_ms": round(statistics.median(took), 2),
        "max_ms": round(max(took), 2),
        "reconcile_ok": report.ok,
    }


def naive_baseline(engine_url: str, ctx: ChainContext) -> dict[str, Any]:
    """web3.py's per-event filter loop and one ORM insert per event."""
    upgrade(engine_url)
    engine = make_engine(engine_url)
    head = int(ctx.w3.eth.block_number)
    began = time.perf_counter()
    count = 0
    with Session(engine) as session:
        for name, contract in (("LoyaltyPoints", ctx.points), ("ProvenanceRegistry", ctx.registry)):
            for event_type in contract.events:
                for entry in event_type.get_logs(from_block=ctx.manifest.start_block, to_block=head):
                    session.add(
                        ChainEvent(
                            block_number=entry["blockNumber"],
                            block_hash=entry["blockHash"].to_0x_hex(),
                            tx_hash=entry["transactionHash"].to_0x_hex(),
                            log_index=entry["logIndex"],
                            contract=name,
                            name=entry["event"],
                            args=json.dumps({k: _plain(v) for k, v in entry["args"].items()}),
                        )
                    )
                    count += 1
                session.commit()
    seconds = time.perf_counter() - began
    engine.dispose()
    return {"events": count, "seconds": round(seconds, 2), "events_per_second": round(count / seconds)}


def _plain(value: Any) -> Any:
    return "0x" + bytes(value).hex() if isinstance(value, bytes | bytearray) else value


def steady_lag(engine_url: str, ctx: ChainContext, home: Path, seconds: float) -> dict[str, Any]:
    """Blocks between head and mirror while one block a second arrives, each with awards."""
    engine = make_engine(engine_url)
    indexer = Indexer(engine, ctx)
    indexer.sync(timeout=600)
    issuer = LocalSigner(ctx.w3, dev_private_keys(home)[1], ctx.chain_id)
    customers = [str(Account.create().address) for _ in range(50)]
    stop = threading.Event()
    runner = threading.Thread(target=indexer.run, args=(stop, 0.2), daemon=True)
    runner.start()
    ctx.w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
    hashes: list[Any] = []
    operation = 50_000_000

    def load() -> None:
        nonlocal operation
        while not stop.is_set():
            hashes.append(issuer.send(award_batch_tx(ctx, customers, operation)))  # type: ignore[arg-type]
            operation += len(customers)
            stop.wait(0.3)

    sender = threading.Thread(target=load, daemon=True)
    sender.start()
    samples: list[int] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            head = int(ctx.w3.eth.block_number)
            with Session(engine) as session:
                cursor = session.get(ChainCursor, "indexer")
            samples.append(max(0, head - (cursor.block_number if cursor else 0)))
            time.sleep(0.02)
    finally:
        stop.set()
        sender.join(timeout=30)
        runner.join(timeout=30)
        ctx.w3.provider.make_request("evm_setIntervalMining", [0])  # type: ignore[arg-type]
        ctx.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    engine.dispose()
    return {
        "seconds": seconds,
        "samples": len(samples),
        "transactions": len(hashes),
        "max_lag_blocks": max(samples),
        "median_lag_blocks": statistics.median(samples),
        "share_at_head": round(sum(1 for s in samples if s == 0) / len(samples), 3),
        "share_within_1_block": round(sum(1 for s in samples if s <= 1) / len(samples), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-tx", type=int, default=500, help="awards per awardBatch transaction")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--claims", type=int, default=10_000, help="wallet claims in the custody case (0: skip it)")
    parser.add_argument("--state-every", type=int, default=100, help="claims between two state events")
    parser.add_argument("--claims-per-block", type=int, default=50)
    args = parser.parse_args()
    configure_logging(level="WARNING")

    work = Path(tempfile.mkdtemp(prefix="credance-bench-"))
    work.chmod(0o755)  # the PostgreSQL server may run as another user
    port = free_port()
    start_anvil(work, port, PROJECT_ROOT / "node_modules", persist=False)
    postgres = LocalPostgres(work / "postgres", free_port())
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
        },
        "target_events_per_second": 5_000,
    }
    try:
        settings = Settings(home=work, chain_port=port, deployments_dir=work / "deployments")
        manifest, _ = ensure_deployment(settings, force=True)
        w3 = connect(settings.resolved_rpc_url, timeout=300)
        ctx = context_for(w3, manifest.chain_id, manifest)
        print(f"generating {args.events:,} events ({args.per_tx} awards per transaction)…", flush=True)
        results["load"] = generate(ctx, work, args.events, args.per_tx)

        print("backfill into SQLite…", flush=True)
        results["sqlite"] = backfill(f"sqlite:///{work / 'bench.db'}", ctx)
        print("backfill into PostgreSQL…", flush=True)
        postgres.start()
        results["postgresql"] = backfill(postgres.create_database("bench"), ctx)
        if not args.skip_baseline:
            print("naive baseline (web3 get_logs per event type + ORM inserts) into SQLite…", flush=True)
            results["baseline"] = naive_baseline(f"sqlite:///{work / 'baseline.db'}", ctx)
        print(f"steady state at the head for {args.lag_seconds:.0f} s (1 block/s)…", flush=True)
        results["lag"] = steady_lag(f"sqlite:///{work / 'bench.db'}", ctx, work, args.lag_seconds)
        if args.claims:
            print(f"custody and state: {args.claims:,} customers claim a wallet (own Anvil)…", flush=True)
            stop_anvil(work)  # its memory is the other case's
            results["state"] = state_case(work, postgres, args.claims, args.state_every, args.claims_per_block)
        results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        postgres.stop()
        stop_anvil(work)
        shutil.rmtree(work, ignore_errors=True)

    report(results)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {OUT.relative_to(PROJECT_ROOT)}")


def report(r: dict[str, Any]) -> None:
    rows = [("backfill → SQLite", r["sqlite"]), ("backfill → PostgreSQL", r["postgresql"])]
    if "baseline" in r:
        rows.append(("naive web3 loop → SQLite", r["baseline"]))
    print(f"\n{'run':<28}{'events':>10}{'seconds':>10}{'events/s':>12}  reconcile")
    for label, row in rows:
        check = "" if "reconcile_ok" not in row else ("ok" if row["reconcile_ok"] else "DIFFERENCES")
        print(f"{label:<28}{row['events']:>10,}{row['seconds']:>10.1f}{row['events_per_second']:>12,}  {check}")
    if "baseline" in r:
        base = r["baseline"]["events_per_second"]
        sqlite, postgres = r["sqlite"]["events_per_second"] / base, r["postgresql"]["events_per_second"] / base
        print(f"speed-up over the baseline: SQLite {sqlite:.1f}x, PostgreSQL {postgres:.1f}x")
    if "state" in r:
        state = r["state"]
        print(
            f"\ncustody and state: {state['load']['claims']:,} wallet claims, "
            f"{state['load']['state_events']} state events"
        )
        for label, key in (
            ("backfill → SQLite", "sqlite"),
            ("backfill → PostgreSQL", "postgresql"),
            ("naive state rebuild → SQLite", "naive"),
        ):
            row = state[key]
            check = "ok" if row["reconcile_ok"] else "DIFFERENCES"
            print(f"{label:<28}{row['events']:>10,}{row['seconds']:>10.1f}{row['events_per_second']:>12,}  {check}")
        head, naive = state["head"], state["head_naive"]
        print(
            f"at the head, a block with a wallet claim: {head['median_ms']} ms a step (max {head['max_ms']}), "
            f"naive {naive['median_ms']} ms (max {naive['max_ms']}), over {head['blocks']} blocks"
        )
    lag = r["lag"]
    print(
        f"lag at head: max {lag['max_lag_blocks']} block(s), median {lag['median_lag_blocks']}, "
        f"{lag['share_within_1_block']:.0%} of {lag['samples']} samples within 1 block"
    )
    m = r["machine"]
    print(f"machine: {m['cpus']} CPUs, load average {m['load_average_at_start']} → {m.get('load_average_at_end')}")


if __name__ == "__main__":
    main()
