"""The contracts' errors were renamed in ERC-6093's style (contracts/interfaces/). Each renamed
error keeps its parameters, decodes under its new name (from the current contracts, and from a
contract deployed before the rename, whose manifest still lists the old name), and the sender
classifies it exactly as it classified the old name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from web3.exceptions import ContractCustomError

from backend.chain import reverts
from backend.chain.artifacts import load_artifact
from backend.chain.build import CONTRACT_NAMES
from backend.chain.manifest import Manifest
from backend.chain.reverts import RENAMED_ERRORS, Refusal, classify_refusal, decode_revert
from backend.settings import Settings

pytestmark = pytest.mark.chain

SAMPLES: dict[str, Any] = {
    "address": "0x00000000000000000000000000000000000000a1",
    "bytes32": b"\x5a" * 32,
    "uint8": 6,
    "uint32": 7,
    "uint64": 2**40 + 3,
    "uint256": 10**30,
}


def refusal_before_the_rename(old_name: str) -> Refusal:
    """The sender's rule as it was: "EnforcedPause" waits, "OperationAlreadyApplied" is applied
    by an earlier transaction, anything else fails."""
    before = {"EnforcedPause": Refusal.WAIT, "OperationAlreadyApplied": Refusal.ALREADY_APPLIED}
    return before.get(old_name, Refusal.FAIL)


def _parts(signature: str) -> tuple[str, list[str]]:
    name, _, rest = signature.partition("(")
    return name, [t for t in rest[:-1].split(",") if t]


@pytest.fixture
def current_abis(deployment: Manifest, base_settings: Settings) -> Iterator[list[list[dict[str, Any]]]]:
    """The decoder knows the current contracts' ABIs only (restored afterwards)."""
    abis = [load_artifact(base_settings.build_dir, name).abi for name in CONTRACT_NAMES]
    saved = list(reverts._extra_abis)
    reverts._extra_abis[:] = abis
    reverts._selectors.cache_clear()
    yield abis
    reverts._extra_abis[:] = saved
    reverts._selectors.cache_clear()


def _revert(signature: str, values: list[Any]) -> ContractCustomError:
    _, types = _parts(signature)
    data = function_signature_to_4byte_selector(signature) + abi_encode(types, values)
    return ContractCustomError("execution reverted", data="0x" + data.hex())


@pytest.mark.parametrize("old_signature", sorted(RENAMED_ERRORS))
def test_a_renamed_error_keeps_its_parameters_decodes_and_is_classified_as_before(
    current_abis: list[list[dict[str, Any]]], old_signature: str
) -> None:
    old_name, types = _parts(old_signature)
    new_name = RENAMED_ERRORS[old_signature]
    new_signature = f"{new_name}({','.join(types)})"
    declared = {
        f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
        for abi in current_abis
        for item in abi
        if item["type"] == "error"
    }
    assert new_signature in declared, "renamed errors keep their parameters (types and order)"
    values = [SAMPLES[t] for t in types]
    rendered = ", ".join("0x" + v.hex() if isinstance(v, bytes) else str(v) for v in values)
    expected = (new_name, f"{new_name}({rendered})")
    assert decode_revert(_revert(new_signature, values)) == expected  # the current contracts
    assert decode_revert(_revert(old_signature, values)) == expected  # a contract deployed before
    old_manifest_abi = [{"type": "error", "name": old_name, "inputs": [{"name": "", "type": t} for t in types]}]
    reverts.register_abi(old_manifest_abi)  # that deployment's manifest, as context.py registers it
    assert decode_revert(_revert(old_signature, values)) == expected
    assert classify_refusal(new_name) is refusal_before_the_rename(old_name)


def test_the_pause_and_unknown_reverts_are_classified_as_before() -> None:
    assert classify_refusal("EnforcedPause") is Refusal.WAIT
    assert classify_refusal("AccessControlUnauthorizedAccount") is Refusal.FAIL
    assert classify_refusal(None) is Refusal.FAIL
