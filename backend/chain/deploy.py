"""Deploy the contracts and grant their roles; shared by `credance deploy` and `ape run deploy`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from backend.chain.artifacts import Artifact, load_artifact
from backend.chain.local_signer import LocalSigner
from backend.chain.manifest import DeployedContract, Manifest, save_manifest
from backend.chain.nodes import require_evm

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


def _role_id(role: str) -> bytes:
    return bytes(32) if role == "DEFAULT_ADMIN_ROLE" else Web3.keccak(text=role)


def _contract(signer: LocalSigner, abi: list[dict[str, object]], address: str) -> Contract:
    return signer.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)


def _grant(signer: LocalSigner, abi: list[dict[str, object]], address: str, role: str, account: str) -> None:
    contract = _contract(signer, abi, address)
    if not contract.functions.hasRole(_role_id(role), account).call():
        call = contract.functions.grantRole(_role_id(role), account)
        signer.transact(call.build_transaction({"from": signer.address}))


def _renounce(signer: LocalSigner, abi: list[dict[str, object]], address: str, role: str) -> None:
    contract = _contract(signer, abi, address)
    if contract.functions.hasRole(_role_id(role), signer.address).call():
        call = contract.functions.renounceRole(_role_id(role), signer.address)
        signer.transact(call.build_transaction({"from": signer.address}))


def deploy_contracts(
    signer: LocalSigner,
    artifacts_dir: Path,
    deployments_dir: Path,
    issuer: str,
    operator: str | None = None,
    pauser: str | None = None,
    passport_base_uri: str = "",
    collectible_uri: str = "",
) -> Manifest:
    """Deploy LoyaltyPoints and ProvenanceRegistry, grant roles, write the manifest.

    The deployer keeps only DEFAULT_ADMIN_ROLE (ready to hand to a multisig) and, unless
    ``pauser`` names another key, PAUSER_ROLE on both. The sender's hot keys get the roles of
    their work and no admin role: ``issuer`` ISSUER_ROLE on the token; ``operator`` (default: the
    deployer, as before the roles were split) PROGRAM_MANAGER_ROLE on the token (rule sets,
    transfer policy) and REGISTRAR_ROLE on the registry (organisations, prefixes), which the
    registry's constructor gave the deployer and the deployer then renounces. ``ItemPassports``
    checks items against the registry; the issuer issues passports and relays custodial ones'
    transfers (``passport_base_uri``: where their metadata is served, ``<public url>/passports/``).
    ``CollectibleRewards``: the operator creates editions and opens polls, the issuer mints on
    redemption and relays custodial votes (``collectible_uri``: the ERC-1155 metadata template).
    """
    pauser = Web3.to_checksum_address(pauser or signer.address)
    issuer = Web3.to_checksum_address(issuer)
    operator = Web3.to_checksum_address(operator or signer.address)
    points = load_artifact(artifacts_dir, "LoyaltyPoints")
    registry = load_artifact(artifacts_dir, "ProvenanceRegistry")
    passports = load_artifact(artifacts_dir, "ItemPassports")
    collectibles = load_artifact(artifacts_dir, "CollectibleRewards")
    for artifact in (points, registry, passports, collectibles):  # a clear refusal instead of a raw "invalid opcode"
        require_evm(signer.w3, artifact.evm_version)

    points_address, points_receipt = _deploy(signer, points, signer.address, TOKEN_NAME, TOKEN_SYMBOL)
    registry_address, registry_receipt = _deploy(signer, registry, signer.address)
    passports_address, passports_receipt = _deploy(
        signer, passports, signer.address, registry_address, passport_base_uri
    )
    collectibles_address, collectibles_receipt = _deploy(signer, collectibles, signer.address, collectible_uri)
    _grant(signer, points.abi, points_address, "ISSUER_ROLE", issuer)
    _grant(signer, points.abi, points_address, "PROGRAM_MANAGER_ROLE", operator)
    _grant(signer, points.abi, points_address, "PAUSER_ROLE", pauser)
    _grant(signer, registry.abi, registry_address, "REGISTRAR_ROLE", operator)
    _grant(signer, registry.abi, registry_address, "PAUSER_ROLE", pauser)
    _grant(signer, passports.abi, passports_address, "ISSUER_ROLE", issuer)
    _grant(signer, passports.abi, passports_address, "PAUSER_ROLE", pauser)
    for role, holder in (("ISSUER_ROLE", issuer), ("PROGRAM_MANAGER_ROLE", operator), ("PAUSER_ROLE", pauser)):
        _grant(signer, collectibles.abi, collectibles_address, role, holder)
    if operator != signer.address:
        _renounce(signer, registry.abi, registry_address, "REGISTRAR_ROLE")

    manifest = Manifest(
        chain_id=signer.chain_id,
        deployed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        deployer=signer.address,
        contracts={
            "LoyaltyPoints": _record(points, points_address, points_receipt),
            "ProvenanceRegistry": _record(registry, registry_address, registry_receipt),
            "ItemPassports": _record(passports, passports_address, passports_receipt),
            "CollectibleRewards": _record(collectibles, collectibles_address, collectibles_receipt),
        },
        roles={
            "admin": signer.address,
            "issuer": issuer,
            "operator": operator,
            "program_manager": operator,
            "registrar": operator,
            "pauser": pauser,
        },
    )
    save_manifest(deployments_dir, manifest)
    return manifest
