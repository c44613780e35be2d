"""The chain a verifier trusts: a node, and the registry contract pinned by the person verifying
(an address they know, or a deployment manifest they trust), never by the server's answer. The
node's own ``eth_chainId`` must be the pinned chain, and the pinned address must hold code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from backend.chain.manifest import Manifest
from backend.provenance.verifier.registry import ABI

REGISTRY = "ProvenanceRegistry"


class PinError(RuntimeError):
    """The chain cannot be pinned as asked (wrong chain, no contract, unreadable manifest)."""


@dataclass(frozen=True)
class ChainPin:
    w3: Web3
    chain_id: int
    address: ChecksumAddress
    from_block: int  # where to look for the registry's logs
    source: str  # how it was pinned, for the report
    registry: Any  # the web3 contract at ``address`` with the minimal ABI


def _checked_address(value: str) -> ChecksumAddress:
    if not Web3.is_address(value):
        raise PinError(f"{value!r} is not an address")
    return Web3.to_checksum_address(value)


def pin_chain(
    w3: Web3, registry: str | None = None, manifest: Path | None = None, chain_id: int | None = None
) -> ChainPin:
    """Pin the registry by ``registry`` address or by a ``manifest`` file (one of them), and
    optionally the chain id (a manifest pins its own)."""
    if (registry is None) == (manifest is None):
        raise PinError("pin the registry contract: give its address or a trusted deployment manifest (one of them)")
    node_chain = int(w3.eth.chain_id)
    from_block = 0
    if manifest is not None:
        try:
            deployed = Manifest.from_json(manifest.read_text())
            contract = deployed.contracts[REGISTRY]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PinError(f"{manifest}: not a deployment manifest with a {REGISTRY} ({exc})") from exc
        if chain_id is not None and chain_id != deployed.chain_id:
            raise PinError(f"{manifest} is for chain {deployed.chain_id}, not chain {chain_id}")
        chain_id, address, from_block = deployed.chain_id, _checked_address(contract.address), contract.deploy_block
        source = f"manifest {manifest}"
    else:
        assert registry is not None
        address, source = _checked_address(registry), f"address {registry}"
    if chain_id is not None and node_chain != chain_id:
        raise PinError(f"the node is chain {node_chain}, not the pinned chain {chain_id}")
    if not w3.eth.get_code(address):
        raise PinError(f"no contract at {address} on chain {node_chain}")
    if manifest is not None:
        block = w3.eth.get_block(from_block)
        if block["hash"].to_0x_hex() != contract.block_hash:
            raise PinError(f"the deployment in {manifest} is not on this chain (block {from_block} differs)")
    return ChainPin(w3, node_chain, address, from_block, source, w3.eth.contract(address=address, abi=ABI))
