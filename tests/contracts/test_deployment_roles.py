"""The roles `credance deploy` leaves: DEFAULT_ADMIN_ROLE only on the deployer (ready for a
multisig), the sender's hot keys (issuer, operator) with the roles of their work and no admin."""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.contract import Contract

from backend.chain.manifest import Manifest
from tests.contracts.conftest import Roles
from tests.contracts.helpers import reverts

pytestmark = pytest.mark.chain
ADMIN = bytes(32)


def role(contract: Contract, name: str) -> bytes:
    return ADMIN if name == "DEFAULT_ADMIN_ROLE" else bytes(getattr(contract.functions, name)().call())


def holders(contract: Contract, name: str, candidates: dict[str, str]) -> set[str]:
    granted = contract.functions.hasRole
    return {who for who, address in candidates.items() if granted(role(contract, name), address).call()}


def test_deployment_leaves_admin_only_on_the_deployer(
    points: Contract, registry: Contract, roles: Roles, deployment: Manifest
) -> None:
    keys = {"deployer": roles.admin.address, "issuer": roles.issuer.address, "operator": roles.operator.address}
    assert holders(points, "DEFAULT_ADMIN_ROLE", keys) == {"deployer"}
    assert holders(registry, "DEFAULT_ADMIN_ROLE", keys) == {"deployer"}
    assert holders(points, "ISSUER_ROLE", keys) == {"issuer"}
    assert holders(points, "PROGRAM_MANAGER_ROLE", keys) == {"operator"}
    assert holders(registry, "REGISTRAR_ROLE", keys) == {"operator"}  # the deployer renounced it
    assert holders(points, "PAUSER_ROLE", keys) == holders(registry, "PAUSER_ROLE", keys) == {"deployer"}
    manifest_roles = {k: Web3.to_checksum_address(v) for k, v in deployment.roles.items()}
    assert manifest_roles == {
        "admin": roles.admin.address,
        "issuer": roles.issuer.address,
        "operator": roles.operator.address,
        "program_manager": roles.operator.address,
        "registrar": roles.operator.address,
        "pauser": roles.admin.address,
    }


def test_the_hot_keys_cannot_grant_roles(points: Contract, registry: Contract, roles: Roles) -> None:
    """A leaked issuer or operator key cannot make itself (or anyone) admin or issuer."""
    for signer in (roles.issuer, roles.operator):
        for contract, name in ((points, "ISSUER_ROLE"), (points, "DEFAULT_ADMIN_ROLE"), (registry, "REGISTRAR_ROLE")):
            call = contract.functions.grantRole(role(contract, name), roles.stranger.address)
            reverts(signer, call, "AccessControlUnauthorizedAccount")
