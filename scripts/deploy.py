"""Deploy the Credance contracts: ``ape run deploy [--network ...]``.

Uses the same deploy code as ``credance deploy`` and writes the same manifest,
``deployments/<chain_id>.json``. Keys come from CREDANCE_DEPLOYER_KEY, CREDANCE_ISSUER_KEY and
CREDANCE_OPERATOR_KEY; on a local development network, from Ape's test accounts (Anvil's dev
accounts, the same ones ``credance deploy`` uses).
"""

from __future__ import annotations

import click
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand

from backend.chain.build import build_contracts
from backend.chain.deploy import deploy_contracts
from backend.chain.keys import DEV_ACCOUNT
from backend.chain.local_signer import LocalSigner
from backend.settings import get_settings


def _key(secret: object, test_account_index: int, network_is_local: bool) -> str:
    value = getattr(secret, "get_secret_value", lambda: None)()
    if value:
        return str(value)
    if not network_is_local:
        raise click.UsageError(
            "set CREDANCE_DEPLOYER_KEY, CREDANCE_ISSUER_KEY and CREDANCE_OPERATOR_KEY for a non-local network"
        )
    return str(accounts.test_accounts[test_account_index].private_key)


@click.command(cls=ConnectedProviderCommand)
def cli() -> None:
    settings = get_settings()
    provider = chain.provider
    w3 = provider.web3
    chain_id = int(w3.eth.chain_id)  # asked of the node: a custom network URI may not declare it
    is_local = provider.network.name == "local" or chain_id == 31337
    build_contracts(settings.build_dir, settings.node_modules)
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
    )
    for name, contract in manifest.contracts.items():
        click.echo(f"{name}: {contract.address} (block {contract.deploy_block})")
    click.echo(f"manifest: {settings.deployments_dir / f'{manifest.chain_id}.json'}")
