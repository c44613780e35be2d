"""The contracts' ABI as its consumers see it. The interfaces (contracts/interfaces/) hold every
event and error of our own; events keep their signatures and indexed arguments (the indexer's
decoder, reconcile, the verifier and verify.mjs key on their topics); the contracts answer
`supportsInterface` for their interfaces; the verifier's minimal ABI is a part of
IProvenanceRegistry; every external function and event of our own has NatSpec; and the Solidity
sources keep OpenZeppelin's habits (`_check…` helpers read only, no hand-written narrowing casts
or min/max)."""

from __future__ import annotations

import json
import re
from functools import reduce
from pathlib import Path
from typing import Any

import pytest
from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector
from web3.contract import Contract

from backend.chain.artifacts import load_artifact
from backend.chain.manifest import Manifest
from backend.provenance.verifier import registry as verifier
from backend.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.chain

INTERFACE_OF = {
    "LoyaltyPoints": "ILoyaltyPoints",
    "ProvenanceRegistry": "IProvenanceRegistry",
    "ItemPassports": "IItemPassports",
    "CollectibleRewards": "ICollectibleRewards",
}
DOMAIN_OF = {
    "LoyaltyPoints": "LoyaltyPoints",
    "ProvenanceRegistry": "Provenance",
    "ItemPassports": "ItemPassports",
    "CollectibleRewards": "CollectibleRewards",
}
# Every event of our own, as deployed before the interfaces existed: same names, types, indexing.
EVENTS = {
    "LoyaltyPoints": {
        "RuleSetPublished(uint32 indexed,bytes32)",
        "PointsAwarded(address indexed,uint64 indexed,bytes32,uint256,uint256,uint32)",
        "PointsReversed(address indexed,uint64 indexed,bytes32,uint256,uint256)",
        "PointsRedeemed(address indexed,uint64 indexed,bytes32,uint256)",
        "PointsExpired(address indexed,uint64 indexed,uint256)",
        "PointsTransferred(address indexed,address indexed,uint64 indexed,bytes32,uint256)",
        "WalletClaimed(address indexed,address indexed,uint64 indexed,uint256,uint256)",
        "TransferPolicyUpdated(bool,uint256)",
    },
    "ProvenanceRegistry": {
        "OrganisationUpdated(bytes32 indexed,address indexed,uint8,bool)",
        "CompanyPrefixAssigned(uint64 indexed,bytes32 indexed)",
        "ProductRegistered(uint64 indexed,bytes32 indexed)",
        "PartnerRolesUpdated(bytes32 indexed,bytes32 indexed,uint8)",
        "ItemsRegistered(bytes32 indexed,uint64 indexed,bytes32 indexed,uint32)",
        "EventsAnchored(bytes32 indexed,bytes32 indexed,uint32)",
        "RecallIssued(uint256 indexed,uint64 indexed,bytes32 indexed,bytes32,uint32,bytes32)",
    },
    "ItemPassports": {
        "PassportIssued(uint256 indexed,uint64 indexed,uint64 indexed)",
        "PassportRelayed(uint256 indexed,uint64 indexed,bool)",
    },
    "CollectibleRewards": {
        "EditionCreated(uint256 indexed,uint64)",
        "CollectiblesMinted(uint64 indexed,uint256 indexed,address indexed,uint64,bool)",
        "CollectiblesRelayed(uint64 indexed,uint256 indexed,address indexed,address,uint64,bool)",
        "CustodyReleased(address indexed,uint256 indexed,uint256)",
        "PollOpened(uint64 indexed,uint256 indexed,uint8,uint64,uint64)",
        "PollVoted(uint64 indexed,address indexed,uint64 indexed,uint8)",
    },
}
OPENZEPPELIN = PROJECT_ROOT / "node_modules" / "@openzeppelin" / "contracts"
SOURCES = sorted([*(PROJECT_ROOT / "contracts").glob("*.sol"), *(PROJECT_ROOT / "contracts/interfaces").glob("*.sol")])


@pytest.fixture(scope="module")
def abis(deployment: Manifest, base_settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """ABIs of the contracts and of their interfaces, as `credance build` wrote them."""
    names = [*INTERFACE_OF, *INTERFACE_OF.values()]
    return {name: load_artifact(base_settings.build_dir, name).abi for name in names}


def _of(abi: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in abi if item["type"] == kind]


def _event(item: dict[str, Any]) -> str:
    return item["name"] + "(" + ",".join(i["type"] + (" indexed" if i["indexed"] else "") for i in item["inputs"]) + ")"


def _signature(item: dict[str, Any]) -> str:
    return item["name"] + "(" + ",".join(i["type"] for i in item["inputs"]) + ")"


def _openzeppelin_declarations(keyword: str) -> set[str]:
    """Names OpenZeppelin's sources declare as ``keyword`` (event, error, function, constant)."""
    if keyword == "constant":
        pattern = re.compile(r"\bpublic constant (\w+)")
    else:
        pattern = re.compile(rf"^\s*{keyword} (\w+)\(", re.MULTILINE)
    return {name for path in OPENZEPPELIN.rglob("*.sol") for name in pattern.findall(path.read_text())}


@pytest.mark.parametrize("contract", INTERFACE_OF)
def test_events_keep_their_signatures_and_live_in_the_interface(
    abis: dict[str, list[dict[str, Any]]], contract: str
) -> None:
    inherited = _openzeppelin_declarations("event")
    ours = {_event(e) for e in _of(abis[contract], "event") if e["name"] not in inherited}
    assert ours == EVENTS[contract]
    assert {_event(e) for e in _of(abis[INTERFACE_OF[contract]], "event")} == EVENTS[contract]


@pytest.mark.parametrize("contract", INTERFACE_OF)
def test_every_error_of_our_own_lives_in_the_interface_with_its_domain_prefix(
    abis: dict[str, list[dict[str, Any]]], contract: str
) -> None:
    declared = {_signature(e) for e in _of(abis[INTERFACE_OF[contract]], "error")}
    domain = DOMAIN_OF[contract]
    assert declared
    assert all(s.startswith(domain) for s in declared)
    inherited = _openzeppelin_declarations("error")
    for error in _of(abis[contract], "error"):
        assert _signature(error) in declared or error["name"] in inherited, _signature(error)


@pytest.mark.parametrize("contract", INTERFACE_OF)
def test_the_contract_answers_supports_interface_for_its_interface(
    abis: dict[str, list[dict[str, Any]]],
    points: Contract,
    registry: Contract,
    passports: Contract,
    collectibles: Contract,
    contract: str,
) -> None:
    deployed = {
        "LoyaltyPoints": points,
        "ProvenanceRegistry": registry,
        "ItemPassports": passports,
        "CollectibleRewards": collectibles,
    }[contract]
    functions = _of(abis[INTERFACE_OF[contract]], "function")
    interface_id = reduce(lambda a, b: a ^ b, (int.from_bytes(function_abi_to_4byte_selector(f)) for f in functions))
    assert deployed.functions.supportsInterface(interface_id.to_bytes(4)).call()
    assert deployed.functions.supportsInterface(bytes.fromhex("7965db0b")).call()  # IAccessControl, as before
    assert not deployed.functions.supportsInterface(bytes.fromhex("deadbeef")).call()


def _canonical(item: dict[str, Any]) -> str:
    def kind(param: dict[str, Any]) -> str:
        if param["type"].startswith("tuple"):
            return "(" + ",".join(kind(c) for c in param["components"]) + ")" + param["type"][5:]
        return str(param["type"])

    return item["name"] + "(" + ",".join(kind(i) for i in item["inputs"]) + ")"


@pytest.mark.parametrize("contract", INTERFACE_OF)
def test_every_external_function_and_event_of_our_own_has_natspec(
    deployment: Manifest, base_settings: Settings, contract: str
) -> None:
    artifact = json.loads((base_settings.build_dir / f"{contract}.json").read_text())
    userdoc, devdoc = artifact["userdoc"], artifact["devdoc"]
    documented = {*userdoc.get("methods", {}), *devdoc.get("methods", {}), *userdoc.get("events", {})}
    inherited = _openzeppelin_declarations("function") | _openzeppelin_declarations("constant")
    inherited |= _openzeppelin_declarations("event")
    undocumented = [
        _canonical(item)
        for item in artifact["abi"]
        if item["type"] in ("function", "event")
        and _canonical(item) not in documented
        and item["name"] not in inherited
    ]
    assert not undocumented


def test_the_verifiers_minimal_abi_and_topics_are_part_of_the_registry_interface(
    abis: dict[str, list[dict[str, Any]]],
) -> None:
    interface = abis["IProvenanceRegistry"]
    functions = {f["name"]: f for f in _of(interface, "function")}
    for wanted in verifier.ABI:
        have = functions[wanted["name"]]
        assert [i["type"] for i in have["inputs"]] == [i["type"] for i in wanted["inputs"]], wanted["name"]
        assert [o["type"] for o in have["outputs"]] == [o["type"] for o in wanted["outputs"]], wanted["name"]
        assert have["stateMutability"] == wanted["stateMutability"]
    topics = {e["name"]: bytes(event_abi_to_log_topic(e)) for e in _of(interface, "event")}  # type: ignore[arg-type]
    assert topics["ItemsRegistered"] == verifier.ITEMS_REGISTERED
    assert topics["EventsAnchored"] == verifier.EVENTS_ANCHORED
    assert topics["RecallIssued"] == verifier.RECALL_ISSUED


def _functions(source: str) -> list[tuple[str, str]]:
    """(name, header up to its body) of every function in a Solidity source."""
    return [(m["name"], m["header"]) for m in re.finditer(r"function (?P<name>\w+)(?P<header>\([^{;]*)", source)]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_solidity_sources_keep_openzeppelins_habits(path: Path) -> None:
    source = path.read_text()
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", source, flags=re.DOTALL)  # comments say what they like
    for name, header in _functions(code):
        if name.startswith("_check"):  # a check reads and reverts; bookkeeping lives in _use…/_record…
            assert re.search(r"\b(view|pure)\b", header), f"{name} may write state"
    # Narrowing casts by hand wrap silently: SafeCast reverts instead.
    casts = re.findall(r"\buint(?!256\b)\d+\([^)]*\)", code)
    assert not casts, f"use SafeCast: {casts}"
    # min and max by hand: Math.min / Math.max.
    by_hand = re.findall(r"([\w.]+) [<>]=? ([\w.]+) \? (?:\1 : \2|\2 : \1)", code)
    assert not by_hand, f"use Math.min / Math.max: {by_hand}"
