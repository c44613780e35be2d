"""What the gas benchmarks share: a fresh Anvil with the contracts deployed (the dev keys with it),
sending a call and reading its gas, and the figures each writes beside its naive baseline."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _processes import free_port  # noqa: E402  (bench/ is on sys.path)

from backend.chain.anvil import dev_private_keys, start_anvil, stop_anvil  # noqa: E402
from backend.chain.bootstrap import ensure_deployment  # noqa: E402
from backend.chain.client import connect  # noqa: E402
from backend.chain.context import ChainContext, context_for  # noqa: E402
from backend.chain.keys import DEV_ACCOUNT  # noqa: E402
from backend.chain.local_signer import LocalSigner  # noqa: E402
from backend.settings import Settings  # noqa: E402


@dataclass
class Chain:
    ctx: ChainContext
    keys: list[str]

    def signer(self, index: int) -> LocalSigner:
        return LocalSigner(self.ctx.w3, self.keys[index], self.ctx.chain_id)

    def role(self, name: str) -> LocalSigner:
        """The deployment's key of a role: ``issuer``, ``operator``, ``deployer``."""
        return self.signer(DEV_ACCOUNT[name])


@contextmanager
def fresh_chain() -> Iterator[Chain]:
    """A throwaway Anvil with a fresh deployment, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="credance-bench-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        start_anvil(workdir, port, ROOT / "node_modules", persist=False)
        try:
            settings = Settings(
                home=workdir,
                chain_port=port,
                deployments_dir=workdir / "deployments",
                database_url=f"sqlite:///{workdir / 'unused.db'}",
            )
            manifest, _ = ensure_deployment(settings, force=True)
            w3 = connect(settings.resolved_rpc_url)
            yield Chain(context_for(w3, manifest.chain_id, manifest), dev_private_keys(workdir))
        finally:
            stop_anvil(workdir)


def send(signer: LocalSigner, call: Any) -> int:
    """Send a contract call; its gas."""
    receipt = signer.transact({"to": call.address, "data": call._encode_transaction_data()})
    return int(receipt["gasUsed"])


def gas_figures(what: str, batched: dict[int, float], naive: float) -> list[dict[str, Any]]:
    """``bench/report.py`` figures: the gas of each batch size against the one-per-transaction baseline."""
    return [
        {
            "name": f"{what}, batch of {size}",
            "value": round(gas),
            "baseline": round(naive),
            "unit": "gas",
            "higher_is_better": False,
        }
        for size, gas in batched.items()
    ]
