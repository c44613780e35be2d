"""Confirmed awards per second on each EVM node, in one run: Anvil, Ganache and Hardhat.

For each node, the whole platform (``bench/stack.py``: the node, contracts, SQLite, the API,
sender and indexer as processes) takes ``--purchases`` checkouts from ``--connections`` client
threads; the figure is purchases / seconds from the first request until the last award is
confirmed (mined and mirrored). The node's own profile applies (Ganache: 64 awards per batch).
Anvil is each other node's baseline. Writes ``bench/out/nodes.json``.

    .venv/bin/python bench/nodes.py [--nodes anvil,ganache,hardhat] [--purchases 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from stack import Stack  # noqa: E402

from backend.chain.nodes import NODE_NAMES, NodeName  # noqa: E402

OUT = ROOT / "bench" / "out" / "nodes.json"


def measure(node: NodeName, purchases: int, connections: int, timeout: float) -> dict[str, Any]:
    stack = Stack("sqlite", api_workers=1, node=node)
    try:
        keys = stack.start()
        url = f"http://127.0.0.1:{stack.api_port}/v1/purchases"
        headers = {"Authorization": f"Bearer {keys['checkout']}"}

        def buy(worker: int) -> int:
            accepted = 0
            with httpx.Client(timeout=30) as client:
                for seq in range(worker, purchases, connections):
                    body = {
                        "order_id": f"N-{seq}",
                        "customer_id": f"bench-{seq % 500}",
                        "store_id": "demo-store",
                        "currency": "USD",
                        "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": "12.50"}],
                    }
                    accepted += client.post(url, json=body, headers=headers).status_code == 200
            return accepted

        started = time.monotonic()
        with ThreadPoolExecutor(connections) as pool:
            accepted = sum(pool.map(buy, range(connections)))
        accept_seconds = time.monotonic() - started
        stack.wait_confirmed(timeout)
        seconds = time.monotonic() - started
        confirmed = int(stack.scalar("SELECT count(*) FROM operations WHERE kind = 'award' AND status = 'confirmed'"))
        confirmed -= int(stack.scalar("SELECT count(*) FROM purchases WHERE order_id NOT LIKE 'N-%'") or 0)
        return {
            "node": node,
            "purchases": purchases,
            "accepted": accepted,
            "confirmed": confirmed,
            "accepted_per_s": round(accepted / accept_seconds, 1),
            "confirmed_per_s": round(confirmed / seconds, 1),
            "seconds": round(seconds, 2),
            "batch_size": stack.settings.sender_batch_size,
            "evm_version": stack.settings.resolved_evm_version,
        }
    finally:
        stack.stop()


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| node | EVM | awards per batch | accepted/s | confirmed awards/s | confirmed / purchases |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['node']} | {r['evm_version']} | {r['batch_size']} | {r['accepted_per_s']:,} | "
            f"{r['confirmed_per_s']:,} | {r['confirmed']:,} / {r['purchases']:,} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", default=",".join(NODE_NAMES))
    parser.add_argument("--purchases", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=600.0, help="Longest wait for the awards to confirm (s).")
    args = parser.parse_args()
    nodes = [cast(NodeName, name.strip()) for name in args.nodes.split(",") if name.strip()]
    results = [measure(node, args.purchases, args.connections, args.timeout) for node in nodes]
    print(table(results))
    anvil = next((r for r in results if r["node"] == "anvil"), None)
    figures = [
        {
            "name": f"confirmed awards/s on {r['node']}",
            "value": r["confirmed_per_s"],
            "baseline": anvil["confirmed_per_s"],
            "unit": "awards/s",
            "higher_is_better": True,
        }
        for r in results
        if anvil is not None and r is not anvil
    ]
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"results": results, "figures": figures}, indent=1))


if __name__ == "__main__":
    main()
