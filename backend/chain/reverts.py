"""Turn reverts into readable messages, and say what a refusal means for the outbox.

Our contracts' errors follow ERC-6093's grammar, `<Domain><ErrorPrefix><Subject>` (declared in
``contracts/interfaces/``). Contracts deployed before the names changed still revert with the old
names, and their manifests still list them: :data:`RENAMED_ERRORS` maps each old signature to its
new name (the parameters did not change), so those reverts decode, and classify, exactly like
the new ones.
"""

from __future__ import annotations

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


def decode_revert(exc: Exception) -> tuple[str | None, str]:
    """Return (error name, message) for a revert raised by web3.py."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
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
