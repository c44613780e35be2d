"""The deployment manifest ``deployments/<chain_id>.json``: what any Ethereum client needs to talk
to our contracts (names, addresses, deploy blocks, ABIs) and the roles granted at deployment."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3


class ManifestMissing(RuntimeError):
    """No deployment for this chain: run `credance deploy`."""


@dataclass(frozen=True)
class DeployedContract:
    address: str
    deploy_block: int
    deploy_tx: str
    block_hash: str
    abi: list[dict[str, Any]]


@dataclass(frozen=True)
class Manifest:
    chain_id: int
    deployed_at: str
    deployer: str
    contracts: dict[str, DeployedContract]
    roles: dict[str, str] = field(default_factory=dict)

    @property
    def start_block(self) -> int:
        return min(c.deploy_block for c in self.contracts.values())

    def address_of(self, name: str) -> str:
        return self.contracts[name].address

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        contracts = {name: DeployedContract(**c) for name, c in data["contracts"].items()}
        return cls(data["chain_id"], data["deployed_at"], data["deployer"], contracts, data.get("roles", {}))


def manifest_path(deployments_dir: Path, chain_id: int) -> Path:
    return deployments_dir / f"{chain_id}.json"


def load_manifest(deployments_dir: Path, chain_id: int) -> Manifest:
    path = manifest_path(deployments_dir, chain_id)
    if not path.exists():
        raise ManifestMissing(f"no deployment for chain {chain_id} ({path}): run `credance deploy`")
    return Manifest.from_json(path.read_text())


def save_manifest(deployments_dir: Path, manifest: Manifest) -> Path:
    deployments_dir.mkdir(parents=True, exist_ok=True)
    path = manifest_path(deployments_dir, manifest.chain_id)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(manifest.to_json())
    tmp.replace(path)
    return path


def is_live(w3: Web3, manifest: Manifest) -> bool:
    """Whether this chain still has the deployment (an Anvil reset keeps the id, not the history)."""
    for contract in manifest.contracts.values():
        if not w3.eth.get_code(Web3.to_checksum_address(contract.address)):
            return False
        try:
            block = w3.eth.get_block(contract.deploy_block)
        except Exception:  # the block does not exist on this chain
            return False
        if block["hash"].to_0x_hex() != contract.block_hash:
            return False
    return True
