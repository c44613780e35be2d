"""Gas per collectible redemption (``CollectibleRewards`` + ``LoyaltyPoints``) on a fresh Anvil.

A redemption burns the member's points (``redeemFor``, one per transaction, as the outbox sends
burns) and mints the copy (``mint_collectible``). The naive baseline sends each mint alone
(``mint``); the outbox packs ready mints into ``mintBatch`` transactions of 16 and 64. Both are
measured in the same run, the mint alone and the whole redemption (burn + mint).

Prints a table and writes ``bench/out/collectibles.json`` (figures with their baseline). Gas is exact.
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

from backend.chain.calls import encode_awards

EDITION = 1
PRICE = 300


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=32, help="redemptions whose mint is sent alone (baseline)")
    parser.add_argument("--batches", default="16,64")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "collectibles.json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batches.split(",")]
    members = args.single + sum(sizes)
    with fresh_chain() as chain:
        ctx, issuer, operator = chain.ctx, chain.role("issuer"), chain.role("operator")
        assert ctx.collectibles is not None
        collectibles, points = ctx.collectibles, ctx.points
        send(operator, collectibles.functions.createEdition(EDITION, members))
        send(operator, points.functions.publishRuleSet(1, keccak(text="bench rules")))
        holders = [Account.create().address for _ in range(members)]  # custodial addresses, one per member
        ids = iter(range(1, 10**6))
        awards = [(h, next(ids), 1, PRICE, "0x" + "00" * 32) for h in holders]
        for start in range(0, members, 64):  # the points to spend (not measured)
            issuer.transact({"to": points.address, "data": "0x" + encode_awards(awards[start : start + 64]).hex()})  # type: ignore[typeddict-item]

        def burn(holder: str) -> int:
            return send(issuer, points.functions.redeemFor(holder, next(ids), PRICE, keccak(text=holder)))

        def mint(holder: str) -> tuple[Any, ...]:
            return (holder, next(ids), EDITION, 1, True)  # redeemed by custodial members: held in custody

        burns = [burn(h) for h in holders]
        single = [send(issuer, collectibles.functions.mint(mint(h))) for h in holders[: args.single]]
        start, batched = args.single, {}
        for size in sizes:
            gas = send(issuer, collectibles.functions.mintBatch([mint(h) for h in holders[start : start + size]]))
            batched[size] = gas / size
            start += size
        assert collectibles.functions.edition(EDITION).call()[1] == members  # every copy minted, once
    burn_gas = sum(burns) / len(burns)
    naive = sum(single) / len(single)
    table = Table(title=f"Collectible redemptions on Anvil ({members} members, one edition)")
    for column in ("method", "mints per tx", "gas per mint", "gas per redemption (burn + mint)", "vs single"):
        table.add_column(column, justify="right")
    table.add_row("naive: mint, one per tx", "1", f"{naive:,.0f}", f"{burn_gas + naive:,.0f}", "1.0x")
    for size, gas in batched.items():
        ratio = (burn_gas + naive) / (burn_gas + gas)
        table.add_row("mintBatch", f"{size}", f"{gas:,.0f}", f"{burn_gas + gas:,.0f}", f"{ratio:.2f}x")
    Console().print(table)
    figures = gas_figures("gas per collectible mint", batched, naive)
    figures += gas_figures(
        "gas per collectible redemption (burn + mint)",
        {size: burn_gas + gas for size, gas in batched.items()},
        burn_gas + naive,
    )
    result = {
        "burn_gas": round(burn_gas),
        "single_gas_per_mint": round(naive),
        "batched_gas_per_mint": batched,
        "figures": figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
