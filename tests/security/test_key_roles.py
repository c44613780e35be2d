"""Finding 11: the sender held the deployer key (DEFAULT_ADMIN_ROLE) hot for rule sets, the
transfer policy and the registrar's work, so handing admin to a multisig, as SECURITY.md advises,
would have broken the API. Now the sender's keys hold no admin role, and the platform keeps
working after admin moves to another address (a multisig, simulated by a fresh account) and the
deployer key is gone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import SecretStr
from web3 import Web3

from backend.chain.keys import DEV_ACCOUNT
from backend.chain.local_signer import LocalSigner
from backend.chain.manifest import save_manifest
from backend.chain.named_signers import Signers
from backend.provenance.roles import org_chain_id
from tests.support import Platform, make_platform

pytestmark = pytest.mark.chain
ADMIN = bytes(32)


def test_the_senders_keys_hold_no_admin_role(platform: Platform) -> None:
    signers = Signers(platform.ctx.w3, platform.ctx.chain_id, platform.settings, platform.engine)
    hot = {name: signers.get(name).address for name in ("issuer", "operator", "admin")}
    assert hot["admin"] == hot["operator"]  # operations queued by older releases as "admin"
    deployer = platform.ctx.manifest.deployer
    assert deployer not in hot.values()
    for contract in (platform.ctx.points, platform.ctx.registry):
        assert contract.functions.hasRole(ADMIN, deployer).call()
        for address in hot.values():
            assert not contract.functions.hasRole(ADMIN, address).call(), (contract.address, address)


@pytest.mark.sqlite_only
def test_admin_moves_to_a_multisig_and_the_platform_keeps_working(platform: Platform, dev_keys: list[str]) -> None:
    w3, points, registry = platform.ctx.w3, platform.ctx.points, platform.ctx.registry
    deployer = LocalSigner(w3, dev_keys[DEV_ACCOUNT["deployer"]], 31337)
    multisig = Account.create().address
    for contract in (points, registry):
        for call in (
            contract.functions.grantRole(ADMIN, multisig),
            contract.functions.renounceRole(ADMIN, deployer.address),
        ):
            deployer.transact(call.build_transaction({"from": deployer.address}))
        assert contract.functions.hasRole(ADMIN, multisig).call()
        assert not contract.functions.hasRole(ADMIN, deployer.address).call()

    handed_over = w3.eth.get_transaction_count(deployer.address)
    # The services no longer have the deployer key at all: a key with no role and no gas stands in.
    without_deployer = platform.settings.model_copy(
        update={"deployer_key": SecretStr(Account.create().key.to_0x_hex())}
    )
    live = make_platform(without_deployer, platform.engine, platform.keys)
    admin = live.headers("admin")
    rules = live.client.post("/v1/rule-sets", json={"points_per_unit": "2"}, headers=admin)
    assert rules.status_code == 201, rules.text
    policy = live.client.put("/v1/transfer-policy", json={"enabled": True, "daily_cap": 77}, headers=admin)
    assert policy.status_code in (200, 202), policy.text
    org = live.client.post(
        "/v1/organisations", json={"id": "after-handover", "name": "After", "roles": ["retailer"]}, headers=admin
    )
    assert org.status_code == 201, org.text
    live.settle()

    version = rules.json()["version"]
    assert points.functions.ruleSetHash(version).call().hex() == rules.json()["content_hash"].removeprefix("0x")
    assert (points.functions.memberTransfersEnabled().call(), points.functions.dailyTransferCap().call()) == (True, 77)
    controller, _roles, active = registry.functions.organisation(org_chain_id("after-handover")).call()
    assert (controller, active) == (Web3.to_checksum_address(org.json()["controller"]), True)
    purchase = {
        "order_id": "MS-1",
        "customer_id": "msig",
        "store_id": "demo-store",
        "currency": "USD",
        "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": "3.00"}],
    }
    assert live.client.post("/v1/purchases", json=purchase, headers=live.headers()).status_code == 200
    live.assert_mirror_matches_chain()
    assert w3.eth.get_transaction_count(deployer.address) == handed_over  # the deployer never signed again


@pytest.mark.sqlite_only
def test_a_deployment_from_before_the_split_is_operated_with_the_deployer_key(
    platform: Platform, dev_keys: list[str], tmp_path: Path
) -> None:
    """Its manifest names no operator (its LoyaltyPoints has no PROGRAM_MANAGER_ROLE): the
    operator's work is signed by the deployer, as it was then."""
    roles = {k: v for k, v in platform.ctx.manifest.roles.items() if k in ("admin", "issuer", "pauser", "registrar")}
    save_manifest(tmp_path, replace(platform.ctx.manifest, roles=roles))
    legacy = platform.settings.model_copy(update={"deployments_dir": tmp_path})
    signers = Signers(platform.ctx.w3, platform.ctx.chain_id, legacy, platform.engine)
    deployer = Account.from_key(dev_keys[DEV_ACCOUNT["deployer"]]).address
    assert signers.get("operator").address == signers.get("admin").address == deployer
