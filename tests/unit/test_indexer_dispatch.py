"""The indexer's dispatch tables agree with the contracts: every event of both ABIs is mirrored by
a handler or listed as unmirrored with a reason, and every event the operations catalogue waits
for exists with the arguments it reads."""

from __future__ import annotations

from typing import Any

from backend.chain.artifacts import load_artifact
from backend.chain.operations import KEY_EVENTS, OPERATION_ID_EVENTS
from backend.indexer.confirmations import confirmations_of
from backend.indexer.decoder import DecodedEvent
from backend.indexer.handlers import HANDLERS, UNMIRRORED, route
from backend.settings import Settings

CONTRACTS = ("LoyaltyPoints", "ProvenanceRegistry", "ItemPassports", "CollectibleRewards")


def _abi_events() -> dict[tuple[str, str], list[str]]:
    build = Settings().build_dir
    return {
        (contract, item["name"]): [i["name"] for i in item["inputs"]]
        for contract in CONTRACTS
        for item in load_artifact(build, contract).abi
        if item.get("type") == "event"
    }


def _event(contract: str, name: str, block: int, **args: Any) -> DecodedEvent:
    return DecodedEvent(contract, name, args, block, "0x" + "00" * 32, "0x" + "11" * 32, 0)


def test_every_event_is_mirrored_or_listed_as_unmirrored() -> None:
    handled = {name for handler in HANDLERS for name in handler.ON_EVENT}
    events = _abi_events()
    assert handled <= set(events), f"tables name events the contracts lack: {handled - set(events)}"
    unhandled = {name for _, name in set(events) - handled}
    assert unhandled == set(UNMIRRORED), "an event nobody mirrors: handle it or say why in UNMIRRORED"


def test_every_confirming_event_exists_with_what_the_catalogue_reads() -> None:
    events = _abi_events()
    for name in OPERATION_ID_EVENTS:
        assert "operationId" in events[name], name
    assert set(KEY_EVENTS) <= set(events)


def test_each_event_goes_to_the_handlers_that_name_it_in_chain_order() -> None:
    points = [_event("LoyaltyPoints", "Paused", 1), _event("LoyaltyPoints", "Approval", 2)]
    registry = [_event("ProvenanceRegistry", "Paused", 3), _event("ProvenanceRegistry", "RoleGranted", 4)]
    passports = [_event("ItemPassports", "Transfer", 5), _event("ItemPassports", "Paused", 6)]
    collectibles = [_event("CollectibleRewards", "TransferSingle", 7), _event("CollectibleRewards", "RoleGranted", 8)]
    events = points + registry + passports + collectibles
    routed = {handler.__name__.rsplit(".", 1)[1]: mine for handler, mine in route(events)}  # type: ignore[attr-defined]
    assert routed == {
        "loyalty": [points[0]],
        "provenance": [],
        "passports": [passports[0]],
        "collectibles": [collectibles[0]],
        "access": [*registry, passports[1], collectibles[1]],
    }


def test_confirmations_come_from_the_catalogue() -> None:
    found = confirmations_of(
        [
            _event("LoyaltyPoints", "PointsRedeemed", 5, account="0x" + "11" * 20, operationId=42),
            _event("ProvenanceRegistry", "ProductRegistered", 6, gtin=9506000134352, brandId="0x" + "55" * 32),
            _event("LoyaltyPoints", "Transfer", 7, **{"from": "0x" + "00" * 20, "to": "0x" + "11" * 20, "value": 1}),
        ]
    )
    assert (found.ids, found.keys) == ({42: 5}, {"product:09506000134352": 6})
