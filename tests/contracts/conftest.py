"""Role fixtures for contract tests, each a LocalSigner on the session's Anvil, holding what
`credance deploy` gives it: the deployer (``admin``: DEFAULT_ADMIN_ROLE and PAUSER_ROLE only), the
issuer (ISSUER_ROLE), the operator (PROGRAM_MANAGER_ROLE on the token, REGISTRAR_ROLE on the
registry), and organisations and strangers with no role."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from web3 import Web3
from web3.contract import Contract

from backend.chain.context import context_for
from backend.chain.keys import DEV_ACCOUNT
from backend.chain.local_signer import LocalSigner
from backend.chain.manifest import Manifest


@dataclass
class Roles:
    admin: LocalSigner
    issuer: LocalSigner
    operator: LocalSigner
    stranger: LocalSigner
    brand: LocalSigner
    manufacturer: LocalSigner
    other: LocalSigner


@pytest.fixture
def roles(clean_chain: Web3, dev_keys: list[str]) -> Roles:
    def signer(index: int) -> LocalSigner:
        return LocalSigner(clean_chain, dev_keys[index], 31337)

    return Roles(
        admin=signer(DEV_ACCOUNT["deployer"]),
        issuer=signer(DEV_ACCOUNT["issuer"]),
        operator=signer(DEV_ACCOUNT["operator"]),
        stranger=signer(5),
        brand=signer(2),
        manufacturer=signer(3),
        other=signer(4),
    )


@pytest.fixture
def points(clean_chain: Web3, deployment: Manifest) -> Contract:
    return context_for(clean_chain, 31337, deployment).points


@pytest.fixture
def registry(clean_chain: Web3, deployment: Manifest) -> Contract:
    return context_for(clean_chain, 31337, deployment).registry


@pytest.fixture
def passports(clean_chain: Web3, deployment: Manifest) -> Contract:
    contract = context_for(clean_chain, 31337, deployment).passports
    assert contract is not None
    return contract


@pytest.fixture
def collectibles(clean_chain: Web3, deployment: Manifest) -> Contract:
    contract = context_for(clean_chain, 31337, deployment).collectibles
    assert contract is not None
    return contract
