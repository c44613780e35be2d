"""Provenance benchmark: gas per EPCIS event anchored in Merkle batches, against the naive
baseline of storing each event hash in its own transaction (`contracts/bench/NaiveEventStore.sol`,
deployed only here), plus the off-chain capture pipeline (schema, hash, rules, SQL).

Runs on a fresh Anvil of its own and a fresh SQLite database; prints a table and writes JSON.

    .venv/bin/python bench/provenance.py [--sizes 1,16,64,256,1024] [--naive 64] [--capture 1000]
                                         [--out bench/out/provenance.json]

Target: at most 3,000 gas per event at batch 256. Gas is deterministic; the timings depend on the
machine and its load (both are recorded in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import solcx
from rich.console import Console
from rich.table import Table
from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.chain.anvil import dev_private_keys, start_anvil, stop_anvil  # noqa: E402
from backend.chain.bootstrap import ensure_deployment  # noqa: E402
from backend.chain.build import SOLC_VERSION, install_frontend  # noqa: E402
from backend.chain.client import connect  # noqa: E402
from backend.chain.context import context_for  # noqa: E402
from backend.chain.keys import DEV_ACCOUNT  # noqa: E402
from backend.chain.local_signer import LocalSigner  # noqa: E402
from backend.db.engine import make_engine, session_scope  # noqa: E402
from backend.db.migrate import upgrade  # noqa: E402
from backend.provenance.epcis.anchoring import seal_due  # noqa: E402
from backend.provenance.epcis.capture import capture_document  # noqa: E402
from backend.provenance.epcis.hashing import event_hash, hash_digest  # noqa: E402
from backend.provenance.epcis.identifiers import item_key  # noqa: E402
from backend.provenance.epcis.public_form import (  # noqa: E402
    anchored_value,
    cbv_commitment,
    item_token,
    public_body,
    public_digest,
    public_form,
)
from backend.provenance.items import register_items  # noqa: E402
from backend.provenance.merkle import MerkleTree, event_leaf, item_commitment  # noqa: E402
from backend.provenance.organisations import create_organisation  # noqa: E402
from backend.provenance.prefixes import assign_prefix  # noqa: E402
from backend.provenance.products import register_product  # noqa: E402
from backend.provenance.roles import OrgRole, org_chain_id  # noqa: E402
from backend.provenance.settings import ProvenanceSettings  # noqa: E402
from backend.settings import Settings  # noqa: E402

TARGET_GAS_PER_EVENT = 3_000
TARGET_BATCH = 256
GTIN = "09506000134352"
console = Console(width=130)


@dataclass
class BatchResult:
    batch: int
    transactions: int
    gas_per_tx: float
    gas_per_event: float
    verify_gas: int
    events_per_second: float


@dataclass
class NaiveResult:
    events: int
    gas_per_event: float
    events_per_second: float


@dataclass
class CaptureResult:
    events: int
    capture_seconds: float
    events_per_second: float
    seal_seconds: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def synthetic_hashes(count: int, start: int) -> list[bytes]:
    """Anchored values of distinct, realistic events (one shipping event per serial): the CBV hash
    under a salt, bound with the hash of the public form, as the anchorer seals them."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    anchored = []
    for n in range(count):
        serial = f"B{start + n}"
        body = {
            "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit",
            "epcList": [item_key(GTIN, serial)], "eventTimeZoneOffset": "+00:00",
            "eventTime": (moment + timedelta(seconds=start + n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "readPoint": {"id": "urn:epc:id:sgln:9506000.00001.0"},
        }  # fmt: skip
        token = item_token(GTIN, item_commitment(os.urandom(32), serial))
        public = public_digest(public_form(public_body(body, {}, {item_key(GTIN, serial): token}), {}))
        commitment = cbv_commitment(os.urandom(32), hash_digest(event_hash(body)))
        anchored.append(anchored_value(commitment, public))
    return anchored


def bench_batches(registry: Any, writer: LocalSigner, sizes: list[int]) -> list[BatchResult]:
    results = []
    offset = 0
    for size in sizes:
        rounds = 3 if size <= TARGET_BATCH else 1
        gas: list[int] = []
        # The events are made before the clock starts (as for the naive store): what is timed is
        # building the tree, sending the anchor and checking one event.
        batches = [synthetic_hashes(size, offset + round_ * size) for round_ in range(rounds)]
        offset += size * rounds
        started = time.perf_counter()
        verify_gas = 0
        for hashes in batches:
            tree = MerkleTree.build([event_leaf(h) for h in hashes])
            call = registry.functions.anchorEvents(tree.root, size)
            receipt = writer.transact({"to": registry.address, "data": call._encode_transaction_data()})
            gas.append(int(receipt["gasUsed"]))
            middle = size // 2
            verify_gas = int(registry.functions.isEventAnchored(hashes[middle], tree.root, tree.proof(middle))
                             .estimate_gas())  # fmt: skip
        elapsed = time.perf_counter() - started
        per_tx = sum(gas) / len(gas)
        results.append(BatchResult(size, rounds, per_tx, per_tx / size, verify_gas, size * rounds / elapsed))
    return results


def naive_contract(w3: Web3, deployer: LocalSigner) -> Any:
    """Compile (solc-js, offline) and deploy the baseline; it never ships with the platform."""
    install_frontend()
    source = ROOT / "contracts" / "bench" / "NaiveEventStore.sol"
    output = solcx.compile_standard(
        {"language": "Solidity", "sources": {"NaiveEventStore.sol": {"content": source.read_text()}},
         "settings": {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "cancun",
                      "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}}},
        solc_version=SOLC_VERSION,
    )  # fmt: skip
    compiled = output["contracts"]["NaiveEventStore.sol"]["NaiveEventStore"]
    factory = w3.eth.contract(abi=compiled["abi"], bytecode="0x" + compiled["evm"]["bytecode"]["object"])
    receipt = deployer.transact(factory.constructor().build_transaction({"from": deployer.address}))
    return w3.eth.contract(address=receipt["contractAddress"], abi=compiled["abi"])


def bench_naive(store: Any, writer: LocalSigner, count: int) -> NaiveResult:
    hashes = synthetic_hashes(count, 10_000_000)
    gas = 0
    started = time.perf_counter()
    for digest in hashes:
        call = store.functions.storeEvent(digest)
        gas += int(writer.transact({"to": store.address, "data": call._encode_transaction_data()})["gasUsed"])
    elapsed = time.perf_counter() - started
    return NaiveResult(count, gas / count, count / elapsed)


def bench_capture(workdir: Path, settings: Settings, count: int) -> CaptureResult:
    """The capture pipeline on SQLite: one document of ``count`` commissioning events."""
    url = f"sqlite:///{workdir / 'capture.db'}"
    upgrade(url)
    engine = make_engine(url)
    serials = [f"C{n:06d}" for n in range(count)]
    with session_scope(engine) as session:
        org = create_organisation(session, "bench-brand", "Bench Brand", int(OrgRole.BRAND | OrgRole.MANUFACTURER),
                                  "bench-password")  # fmt: skip
        assign_prefix(session, org, GTIN[1:8])  # registration needs the brand's GS1 company prefix
        session.flush()
        register_product(session, org, GTIN, "Bench product")
        session.flush()
        register_items(session, org, GTIN, serials)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "EPCISDocument",
        "schemaVersion": "2.0", "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": [
            {"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning", "disposition": "active",
             "epcList": [f"https://id.gs1.org/01/{GTIN}/21/{s}"], "eventTimeZoneOffset": "+00:00",
             "eventTime": (moment + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")}
            for n, s in enumerate(serials)
        ]},
    }  # fmt: skip
    provenance = ProvenanceSettings(epcis_max_events=max(count, 1))
    started = time.perf_counter()
    with session_scope(engine) as session:
        org = session.get(type(org), "bench-brand")
        assert org is not None
        capture_document(session, org, document, provenance)
    captured = time.perf_counter() - started
    started = time.perf_counter()
    with session_scope(engine) as session:
        seal_due(session, TARGET_BATCH, 0, force=True)
    sealed = time.perf_counter() - started
    engine.dispose()
    return CaptureResult(count, captured, count / captured, sealed)


def _versus(ratio: float) -> str:
    return f"{ratio:,.0f}x cheaper" if ratio >= 1 else f"{1 / ratio:,.1f}x dearer"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,16,64,256,1024")
    parser.add_argument("--naive", type=int, default=64, help="events stored one per transaction")
    parser.add_argument("--capture", type=int, default=1000, help="events in the captured document")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "provenance.json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="credance-bench-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        start_anvil(workdir, port, ROOT / "node_modules", persist=False)
        try:
            settings = Settings(home=workdir, chain_port=port, deployments_dir=workdir / "deployments",
                                database_url=f"sqlite:///{workdir / 'unused.db'}")  # fmt: skip
            manifest, _ = ensure_deployment(settings, force=True)
            w3 = connect(settings.resolved_rpc_url)
            ctx = context_for(w3, manifest.chain_id, manifest)
            keys = dev_private_keys(workdir)
            admin = LocalSigner(w3, keys[DEV_ACCOUNT["deployer"]], manifest.chain_id)
            registrar = LocalSigner(w3, keys[DEV_ACCOUNT["operator"]], manifest.chain_id)  # REGISTRAR_ROLE
            writer = LocalSigner(w3, keys[3], manifest.chain_id)
            org_id = bytes.fromhex(org_chain_id("bench-maker")[2:])
            call = ctx.registry.functions.setOrganisation(org_id, writer.address, int(OrgRole.MANUFACTURER), True)
            registrar.transact({"to": ctx.registry.address, "data": call._encode_transaction_data()})

            batches = bench_batches(ctx.registry, writer, sizes)
            naive = bench_naive(naive_contract(w3, admin), writer, args.naive)
        finally:
            stop_anvil(workdir)
        capture = bench_capture(workdir, settings, args.capture) if args.capture else None

    at_target = next((b for b in batches if b.batch == TARGET_BATCH), None)
    passed = at_target is not None and at_target.gas_per_event <= TARGET_GAS_PER_EVENT
    table = Table(title="EPCIS event anchoring on Anvil (gas is exact; events/s depend on the machine)")
    columns = ("method", "events per tx", "gas per tx", "gas per event", "vs naive", "verify gas (call)", "events/s")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row("naive: one event per tx", "1", f"{naive.gas_per_event:,.0f}", f"{naive.gas_per_event:,.0f}",
                  "1.0x", "-", f"{naive.events_per_second:,.0f}")  # fmt: skip
    for b in batches:
        table.add_row("Merkle batch", f"{b.batch:,}", f"{b.gas_per_tx:,.0f}", f"{b.gas_per_event:,.1f}",
                      _versus(naive.gas_per_event / b.gas_per_event), f"{b.verify_gas:,}",
                      f"{b.events_per_second:,.0f}")  # fmt: skip
    console.print(table)
    if capture:
        console.print(f"capture pipeline (schema + hash + rules + SQLite): {capture.events:,} events in "
                      f"{capture.capture_seconds:.2f} s = {capture.events_per_second:,.0f} events/s; "
                      f"sealing their batches {capture.seal_seconds:.2f} s")  # fmt: skip
    verdict = "PASS" if passed else "FAIL"
    gas_at_target = f"{at_target.gas_per_event:,.1f}" if at_target else "?"
    console.print(f"target ≤ {TARGET_GAS_PER_EVENT:,} gas per event at batch {TARGET_BATCH}: "
                  f"{gas_at_target} → {verdict}")  # fmt: skip

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "provenance", "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "target": {"gas_per_event": TARGET_GAS_PER_EVENT, "batch": TARGET_BATCH, "passed": passed},
        "naive_baseline": asdict(naive), "batches": [asdict(b) for b in batches],
        "capture": asdict(capture) if capture else None,
    }, indent=2))  # fmt: skip
    console.print(f"written {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
