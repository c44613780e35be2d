"""Deploy the contracts and grant their roles; shared by `credance deploy` and `ape run deploy`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from web3 import Web3
from web3.types import TxReceipt

from backend.chain.artifacts import Artifact, load_artifact
from backend.chain.manifest import DeployedContract, Manifest, save_manifest
from backend.chain.signer import LocalSigner

TOKEN_NAME = "Credance Points"
TOKEN_SYMBOL = "CRED"


def _deploy(signer: LocalSigner, artifact: Artifact, *args: object) -> tuple[str, TxReceipt]:
    factory = signer.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = signer.transact(factory.constructor(*args).build_transaction({"from": signer.address}))
    return str(receipt["contractAddress"]), receipt


def _record(artifact: Artifact, address: str, receipt: TxReceipt) -> DeployedContract:
    return DeployedContract(
        address=address,
        deploy_block=int(receipt["blockNumber"]),
        deploy_tx=receipt["transactionHash"].to_0x_hex(),
        block_hash=receipt["blockHash"].to_0x_hex(),
        abi=artifact.abi,
    )


def _grant(signer: LocalSigner, abi: list[dict[str, object]], address: str, role: str, account: str) -> None:
    contract = signer.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
    role_id = Web3.keccak(text=role) if role != "DEFAULT_ADMIN_ROLE" else bytes(32)
    if not contract.functions.hasRole(role_id, account).call():
        signer.transact(contract.functions.grantRole(role_id, account).build_transaction({"from": signer.address}))


def deploy_contracts(
    signer: LocalSigner,
    artifacts_dir: Path,
    deployments_dir: Path,
    issuer: str,
    pauser: str | None = None,
) -> Manifest:
    """Deploy LoyaltyPoints and ProvenanceRegistry, grant roles, write the manifest.

    The deployer keeps DEFAULT_ADMIN_ROLE (and the registry's REGISTRAR_ROLE); ``issuer`` gets
    ISSUER_ROLE on the token; ``pauser`` (default: the deployer) gets PAUSER_ROLE on both.
    """
    pauser = Web3.to_checksum_address(pauser or signer.address)
    issuer = Web3.to_checksum_address(issuer)
    points = load_artifact(artifacts_dir, "LoyaltyPoints")
    registry = load_artifact(artifacts_dir, "ProvenanceRegistry")

    points_address, points_receipt = _deploy(signer, points, signer.address, TOKEN_NAME, TOKEN_SYMBOL)
    registry_address, registry_receipt = _deploy(signer, registry, signer.address)
    _grant(signer, points.abi, points_address, "ISSUER_ROLE", issuer)
    _grant(signer, points.abi, points_address, "PAUSER_ROLE", pauser)
    _grant(signer, registry.abi, registry_address, "PAUSER_ROLE", pauser)

    manifest = Manifest(
        chain_id=signer.chain_id,
        deployed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        deployer=signer.address,
        contracts={
            "LoyaltyPoints": _record(points, points_address, points_receipt),
            "ProvenanceRegistry": _record(registry, registry_address, registry_receipt),
        },
        roles={"admin": signer.address, "issuer": issuer, "pauser": pauser, "registrar": signer.address},
    )
    save_manifest(deployments_dir, manifest)
    return manifest
