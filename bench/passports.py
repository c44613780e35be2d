"""Gas per item passport claim (``ItemPassports``) on a fresh Anvil, with the transactions the
outbox builds (``IssuePassport`` of backend/chain/operations.py): the naive baseline sends each
claim alone (``IssuePassport.call``: ``issue``), the outbox packs ready claims into ``issueBatch``
(``IssuePassport.batch_call``), here of 16 and of ``IssuePassport.max_batch`` (64), the most the
sender puts in one transaction. Each claim is checked against the registry's Merkle batch.

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
from backend.chain.operations import IssuePassport
from backend.db.models import Operation
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
    parser.add_argument("--batches", default=f"16,{IssuePassport.max_batch}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "passports.json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batches.split(",")]
    with fresh_chain() as chain:
        ctx = chain.ctx
        assert ctx.passports is not None
        issuer, operator, brand = chain.role("issuer"), chain.role("operator"), chain.signer(2)
        tree, commitments = _items(ctx, operator, brand, args.single + sum(sizes))

        def claim(index: int) -> Operation:
            """The outbox row of a claim (its id is the operation id the contract uses once)."""
            op = IssuePassport(
                account=Account.create().address,  # a fresh custodial address, as each buyer's
                ref=_hex(item_leaf(GTIN, commitments[index])),
                gtin=GTIN,
                custodial=True,
                commitment=_hex(commitments[index]),
                root=_hex(tree.root),
                proof=[_hex(p) for p in tree.proof(index)],
            )
            return Operation(id=index + 1, **op.row())

        def gas_of(tx: Any) -> int:
            return int(issuer.transact(tx)["gasUsed"])

        single = [gas_of(IssuePassport.from_row(row).call(ctx, row.id or 0)) for row in map(claim, range(args.single))]
        start, batched = args.single, {}
        for size in sizes:
            gas = gas_of(IssuePassport.batch_call(ctx, [claim(start + i) for i in range(size)]))
            batched[size] = gas / size
            start += size
        assert all(ctx.passports.functions.isOperationApplied(n).call() for n in range(1, start + 1))
    naive = sum(single) / len(single)
    table = Table(title=f"Item passport claims on Anvil ({len(commitments)} items in one registry batch)")
    for column in ("method", "claims per tx", "gas per claim", "vs single"):
        table.add_column(column, justify="right")
    table.add_row("naive: issue, one per tx", "1", f"{naive:,.0f}", "1.0x")
    for size, gas in batched.items():
        table.add_row("outbox: issueBatch", f"{size}", f"{gas:,.0f}", f"{naive / gas:.2f}x")
    Console().print(table)
    figures = gas_figures("gas per passport claim", batched, naive)
    result = {"single_gas_per_claim": round(naive), "batched_gas_per_claim": batched, "figures": figures}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


if __name__ == "__main__":
    raise SystemExit(main())
