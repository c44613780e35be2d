"""Deploy the Credance contracts: ``ape run deploy [--network ...]``.

Uses the same deploy code as ``credance deploy`` and writes the same manifest,
``deployments/<chain_id>.json``. Keys come from CREDANCE_DEPLOYER_KEY, CREDANCE_ISSUER_KEY and
CREDANCE_OPERATOR_KEY. Ape's test accounts (the dev mnemonic's, the same accounts
``credance deploy`` uses) stand in only on a known development chain, where they are funded: a
local Anvil, Ganache or Hardhat node (``web3_clientVersion``) holding a balance for them.
Anywhere else a missing key is an error.
"""

from __future__ import annotations

import click
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand
from web3 import Web3

from backend.chain.build import build_contracts
from backend.chain.deploy import deploy_contracts
from backend.chain.keys import DEV_ACCOUNT
from backend.chain.local_signer import LocalSigner
from backend.chain.nodes import profile_of_client
from backend.settings import get_settings

DEV_CHAIN_IDS = (31337, 1337)  # Anvil and Hardhat; Ganache's own default


def _key(secret: object, test_account_index: int, dev_chain: bool) -> str:
    value = getattr(secret, "get_secret_value", lambda: None)()
    if value:
        return str(value)
    if not dev_chain:
        raise click.UsageError(
            "set CREDANCE_DEPLOYER_KEY, CREDANCE_ISSUER_KEY and CREDANCE_OPERATOR_KEY: "
            "Ape's test accounts are used only on a local Anvil, Ganache or Hardhat chain that funds them"
        )
    test_account = accounts.test_accounts[test_account_index]
    if test_account.balance == 0:
        raise click.UsageError(f"Ape's test account {test_account.address} holds no ether on this chain: set the keys")
    return str(test_account.private_key)


def _known_dev_chain(w3: Web3, chain_id: int) -> bool:
    """A local development node (Anvil, Ganache, Hardhat) by its own account of itself."""
    try:
        client = str(w3.client_version)
    except Exception:  # a node that does not say is not one we know
        return False
    return chain_id in DEV_CHAIN_IDS and profile_of_client(client) is not None


@click.command(cls=ConnectedProviderCommand)
def cli() -> None:
    settings = get_settings()
    provider = chain.provider
    w3 = provider.web3
    chain_id = int(w3.eth.chain_id)  # asked of the node: a custom network URI may not declare it
    is_local = _known_dev_chain(w3, chain_id)
    build_contracts(settings.build_dir, settings.node_modules, evm_version=settings.resolved_evm_version)
    deployer = LocalSigner(w3, _key(settings.deployer_key, DEV_ACCOUNT["deployer"], is_local), chain_id)
    issuer = LocalSigner(w3, _key(settings.issuer_key, DEV_ACCOUNT["issuer"], is_local), chain_id)
    operator = LocalSigner(w3, _key(settings.operator_key, DEV_ACCOUNT["operator"], is_local), chain_id)
    manifest = deploy_contracts(
        deployer,
        settings.build_dir,
        settings.deployments_dir,
        issuer=issuer.address,
        operator=operator.address,
        passport_base_uri=f"{settings.resolved_public_url}/passports/",
        collectible_uri=f"{settings.resolved_public_url}/collectibles/{{id}}.json",
    )
    for name, contract in manifest.contracts.items():
        click.echo(f"{name}: {contract.address} (block {contract.deploy_block})")
    click.echo(f"manifest: {settings.deployments_dir / f'{manifest.chain_id}.json'}")
