"""Bring a chain to a usable state: compiled, deployed (once), checked."""

from __future__ import annotations

from web3 import Web3

from backend.chain.build import build_contracts
from backend.chain.client import check_chain, connect
from backend.chain.deploy import deploy_contracts
from backend.chain.keys import platform_keys
from backend.chain.local_signer import LocalSigner
from backend.chain.manifest import Manifest, ManifestMissing, is_live, load_manifest
from backend.chain.network import fee_policy
from backend.chain.reverts import register_artifacts
from backend.settings import Settings


def ensure_deployment(settings: Settings, force: bool = False) -> tuple[Manifest, bool]:
    """Return the live deployment of this chain, deploying it first if needed.

    A manifest whose contracts are gone (an Anvil reset keeps the chain id, not the history)
    is replaced by a fresh deployment. The flag says whether we deployed.
    """
    build_contracts(settings.build_dir, settings.node_modules, evm_version=settings.resolved_evm_version)
    register_artifacts(settings.build_dir)
    w3 = connect(settings.resolved_rpc_url)
    chain_id = check_chain(w3, settings.chain_id)
    if not force:
        try:
            manifest = load_manifest(settings.deployments_dir, chain_id)
        except ManifestMissing:
            pass
        else:
            if is_live(w3, manifest):
                return manifest, False
    return deploy(settings, w3, chain_id), True


def deploy(settings: Settings, w3: Web3, chain_id: int) -> Manifest:
    keys = platform_keys(settings, chain_id)
    deployer = LocalSigner(w3, keys.deployer, chain_id, fee_policy(settings))
    issuer = LocalSigner(w3, keys.issuer, chain_id).address
    operator = LocalSigner(w3, keys.operator, chain_id).address
    return deploy_contracts(
        deployer,
        settings.build_dir,
        settings.deployments_dir,
        issuer=issuer,
        operator=operator,
        passport_base_uri=f"{settings.resolved_public_url}/passports/",
        collectible_uri=f"{settings.resolved_public_url}/collectibles/{{id}}.json",
    )
