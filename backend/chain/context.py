"""An opened chain: connection, deployment manifest and contract handles, checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.contract import Contract

from backend.chain.client import check_chain, connect
from backend.chain.manifest import Manifest, load_manifest
from backend.chain.reverts import register_abi
from backend.settings import Settings


@dataclass
class ChainContext:
    w3: Web3
    chain_id: int
    manifest: Manifest
    points: Contract
    registry: Contract
    passports: Contract | None = None  # absent from manifests deployed before passports existed
    collectibles: Contract | None = None  # absent from manifests deployed before collectibles existed

    @property
    def addresses(self) -> dict[str, str]:
        return {name: c.address for name, c in self.manifest.contracts.items()}

    def contract(self, name: str) -> Contract:
        """The handle of a deployed contract by its manifest name (``ItemPassports``)."""
        handles = {
            "LoyaltyPoints": self.points,
            "ProvenanceRegistry": self.registry,
            "ItemPassports": self.passports,
            "CollectibleRewards": self.collectibles,
        }
        handle = handles.get(name)
        if handle is None:
            raise LookupError(f"no {name} contract in this deployment")
        return handle


def open_chain(settings: Settings, timeout: float = 10.0) -> ChainContext:
    """Connect, check the chain id, load the manifest. Raises ChainUnavailable/ManifestMissing."""
    w3 = connect(settings.resolved_rpc_url, timeout=max(timeout, settings.rpc_timeout))
    chain_id = check_chain(w3, settings.chain_id)
    manifest = load_manifest(settings.deployments_dir, chain_id)
    return context_for(w3, chain_id, manifest)


def context_for(w3: Web3, chain_id: int, manifest: Manifest) -> ChainContext:
    contracts = {}
    for name, deployed in manifest.contracts.items():
        register_abi(deployed.abi)
        contracts[name] = w3.eth.contract(address=Web3.to_checksum_address(deployed.address), abi=deployed.abi)
    return ChainContext(
        w3,
        chain_id,
        manifest,
        contracts["LoyaltyPoints"],
        contracts["ProvenanceRegistry"],
        contracts.get("ItemPassports"),
        contracts.get("CollectibleRewards"),
    )
