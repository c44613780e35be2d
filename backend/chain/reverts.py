"""Turn reverts into readable messages, and say what a refusal means for the outbox.

Our contracts' errors follow ERC-6093's grammar, `<Domain><ErrorPrefix><Subject>` (declared in
``contracts/interfaces/``). Contracts deployed before the names changed still revert with the old
names, and their manifests still list them: :data:`RENAMED_ERRORS` maps each old signature to its
new name (the parameters did not change), so those reverts decode, and classify, exactly like
the new ones.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector

_extra_abis: list[list[dict[str, Any]]] = []

# Old error signature → its name since the contracts follow ERC-6093 (same parameters).
RENAMED_ERRORS: dict[str, str] = {
    "OperationAlreadyApplied(uint64)": "LoyaltyPointsAlreadyAppliedOperation",
    "InvalidOperationId()": "LoyaltyPointsInvalidOperationId",
    "UnknownRuleSet(uint32)": "LoyaltyPointsNonexistentRuleSet",
    "InvalidRuleSet(uint32,bytes32)": "LoyaltyPointsInvalidRuleSet",
    "ZeroAmount()": "LoyaltyPointsZeroAmount",
    "MemberTransfersDisabled()": "LoyaltyPointsDisabledMemberTransfers",
    "DailyTransferCapExceeded(address,uint256,uint256)": "LoyaltyPointsExceededDailyTransferCap",
    "SelfTransfer(address)": "LoyaltyPointsInvalidReceiver",
    "AccountSelfCustodied(address)": "LoyaltyPointsSelfCustodiedAccount",
    "RedemptionPermitExpired(uint256)": "ERC2612ExpiredSignature",
    "InvalidRedemptionPermit(address,address)": "ERC2612InvalidSigner",
    "InvalidOrganisation(bytes32)": "ProvenanceInvalidOrganisation",
    "ControllerInUse(address,bytes32)": "ProvenanceInvalidController",
    "UnauthorisedOrganisation(address,uint8)": "ProvenanceUnauthorizedAccount",
    "InvalidGtin(uint64)": "ProvenanceInvalidGtin",
    "ProductAlreadyRegistered(uint64,bytes32)": "ProvenanceAlreadyRegisteredProduct",
    "UnassignedCompanyPrefix(uint64)": "ProvenanceUnassignedCompanyPrefix",
    "PrefixOwnedByAnotherOrganisation(uint64,uint64,bytes32)": "ProvenanceIncorrectPrefixOwner",
    "InvalidPrefix(uint64)": "ProvenanceInvalidPrefixKey",
    "UnknownProduct(uint64)": "ProvenanceNonexistentProduct",
    "NotAuthorisedByBrand(bytes32,bytes32,uint8)": "ProvenanceUnauthorizedPartner",
    "InvalidBatch(bytes32,uint32)": "ProvenanceInvalidBatch",
}


class Refusal(Enum):
    """What a transaction the chain refuses (in simulation) means for its operations."""

    WAIT = "wait"  # "not now" (an emergency pause): they stay pending and are sent after unpause
    ALREADY_APPLIED = "already_applied"  # an earlier transaction of ours applied them: the indexer confirms
    FAIL = "fail"  # "never": the operation fails (the sender first halves a batch until it is alone)


_REFUSALS: dict[str, Refusal] = {
    "EnforcedPause": Refusal.WAIT,
    "LoyaltyPointsAlreadyAppliedOperation": Refusal.ALREADY_APPLIED,
    "ItemPassportsAlreadyAppliedOperation": Refusal.ALREADY_APPLIED,
    "CollectibleRewardsAlreadyAppliedOperation": Refusal.ALREADY_APPLIED,
}


def classify_refusal(error_name: str | None) -> Refusal:
    """What the sender does with operations whose transaction reverts with ``error_name``."""
    return _REFUSALS.get(error_name or "", Refusal.FAIL)


def register_abi(abi: list[dict[str, Any]]) -> None:
    """Make the custom errors of a contract ABI known to :func:`decode_revert`."""
    _extra_abis.append(abi)
    _selectors.cache_clear()


@cache
def _selectors() -> dict[bytes, tuple[str, list[str]]]:
    table: dict[bytes, tuple[str, list[str]]] = {}
    for abi in _extra_abis:
        for item in abi:
            if item.get("type") != "error":
                continue
            types = [_canonical(i) for i in item.get("inputs", [])]
            signature = f"{item['name']}({','.join(types)})"
            table[function_signature_to_4byte_selector(signature)] = (item["name"], types)
    for signature, name in RENAMED_ERRORS.items():  # after the ABIs: an old manifest's names give way
        types = [t for t in signature[signature.index("(") + 1 : -1].split(",") if t]
        table[function_signature_to_4byte_selector(signature)] = (name, types)
    return table


def _canonical(param: dict[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in param["components"]) + ")" + kind[5:]
    return kind


# Where each node puts a revert's data in a JSON-RPC error (``error.data``), captured from the
# nodes themselves (tests/unit/revert_payloads.json):
#   Anvil                         "0x<selector><args>"
#   Hardhat 2                     {"message": "...", "data": "0x..."}
#   Ganache 7, eth_estimateGas    {"result": "0x...", "programCounter": …, "reason": …, "message": "revert"}
#   Ganache 7, eth_call           "0x..."
#   Ganache 6 and older           {"0x<tx hash>": {"return": "0x...", "error": "revert"}, "stack": …}
_DATA_KEYS = ("data", "result", "return")
_RETURN_DATA_IN_MESSAGE = re.compile(r"return data: (0x[0-9a-fA-F]{8,})")


def revert_data(exc: Exception) -> str | None:
    """The revert data (``0x``-hex) of a revert raised by web3.py, in whichever shape the node
    answered; None if there is none."""
    found = _hex_in(getattr(exc, "data", None), depth=0)
    if found is None:  # an error web3 did not parse as a revert: look at the JSON-RPC answer
        response = getattr(exc, "rpc_response", None)
        error = response.get("error") if isinstance(response, dict) else None
        found = _hex_in(error.get("data"), depth=0) if isinstance(error, dict) else None
    if found is None:  # Hardhat also names it in the message
        match = _RETURN_DATA_IN_MESSAGE.search(str(getattr(exc, "message", None) or exc))
        found = match.group(1) if match else None
    return found


def _hex_in(data: Any, depth: int) -> str | None:
    if isinstance(data, str):
        text = data.removeprefix("Reverted ")
        if text.startswith("0x") and len(text) >= 10:
            try:
                bytes.fromhex(text[2:])
            except ValueError:
                return None
            return text
        return None
    if not isinstance(data, dict) or depth > 3:
        return None
    for key in _DATA_KEYS:
        if (found := _hex_in(data.get(key), depth + 1)) is not None:
            return found
    for key, value in data.items():  # Ganache 6: keyed by transaction hash
        if isinstance(key, str) and key.startswith("0x") and (found := _hex_in(value, depth + 1)) is not None:
            return found
    return None


def decode_revert(exc: Exception) -> tuple[str | None, str]:
    """Return (error name, message) for a revert raised by web3.py, on any node."""
    data = revert_data(exc)
    if data is not None:
        raw = bytes.fromhex(data[2:])
        known = _selectors().get(raw[:4])
        if known is not None:
            name, types = known
            try:
                values = abi_decode(types, raw[4:])
            except Exception:  # malformed revert data: report the name only
                values = ()
            rendered = ", ".join(_render(v) for v in values)
            return name, f"{name}({rendered})"
    return None, str(getattr(exc, "message", None) or exc)


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def register_artifacts(artifacts_dir: Path) -> None:
    from backend.chain.artifacts import load_artifact
    from backend.chain.build import CONTRACT_NAMES

    for name in CONTRACT_NAMES:
        register_abi(load_artifact(artifacts_dir, name).abi)
