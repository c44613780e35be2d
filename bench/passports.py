"""Gas per item passport claim (``ItemPassports``) on a fresh Anvil: one ``issue`` per transaction
(the naive baseline: what a claim costs sent alone, as the outbox sends it today) against
``issueBatch`` of 16 and 64 claims, each checked against the registry's Merkle batch.

Prints a table and writes ``bench/out/passports.json`` (figures with their baseline). Gas is exact.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _gas import ROOT, fresh_chain, gas_figures, send  # bench/ is on sys.path
from eth_account import Account
from eth_utils import keccak
from rich.console import Console
from rich.table import Table

from backend.chain.local_signer import LocalSigner
from backend.provenance.merkle import MerkleTree, item_commitment, item_leaf

GTIN = 9506000134352
BRAND, MANUFACTURER = 1, 2


def _items(ctx: Any, operator: LocalSigner, brand: LocalSigner, count: int) -> tuple[MerkleTree, list[bytes]]:
    registry = ctx.registry
    brand_id = keccak(text="bench-brand")
    send(operator, registry.functions.setOrganisation(brand_id, brand.address, BRAND | MANUFACTURER, True))
    send(operator, registry.functions.assignCompanyPrefix(19506000, brand_id))
    send(brand, registry.functions.registerProduct(GTIN))
    commitments = [item_commitment(keccak(text=f"salt-{i}"), f"SN{i:08d}") for i in range(count)]
    tree = MerkleTree.build([item_leaf(GTIN, c) for c in commitments])
    send(brand, registry.functions.registerItems(GTIN, tree.root, count))
    return tree, commitments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=32, help="claims sent one per transaction (baseline)")
    parser.add_argument("--batches", default="16,64")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "passports.json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batches.split(",")]
    with fresh_chain() as chain:
        ctx = chain.ctx
        assert ctx.passports is not None
        issuer, operator, brand = chain.role("issuer"), chain.role("operator"), chain.signer(2)
        tree, commitments = _items(ctx, operator, brand, args.single + sum(sizes))

        def claim(index: int) -> tuple[Any, ...]:
            holder = Account.create().address  # a fresh custodial address, as each buyer's
            return (holder, index + 1, GTIN, True, commitments[index], tree.root, tree.proof(index))

        single = [send(issuer, ctx.passports.functions.issue(claim(i))) for i in range(args.single)]
        start, batched = args.single, {}
        for size in sizes:
            gas = send(issuer, ctx.passports.functions.issueBatch([claim(start + i) for i in range(size)]))
            batched[size] = gas / size
            start += size
    naive = sum(single) / len(single)
    table = Table(title=f"Item passport claims on Anvil ({len(commitments)} items in one registry batch)")
    for column in ("method", "claims per tx", "gas per claim", "vs single"):
        table.add_column(column, justify="right")
    table.add_row("naive: issue, one per tx", "1", f"{naive:,.0f}", "1.0x")
    for size, gas in batched.items():
        table.add_row("issueBatch", f"{size}", f"{gas:,.0f}", f"{naive / gas:.2f}x")
    Console().print(table)
    figures = gas_figures("gas per passport claim", batched, naive)
    result = {"single_gas_per_claim": round(naive), "batched_gas_per_claim": batched, "figures": figures}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
