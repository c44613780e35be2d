"""Each official EPCIS 2.0 example is accepted once the items it names are registered and
commissioned (and, for a receipt, shipped), and comes back out as valid EPCIS 2.0."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backend.provenance.epcis.events import parse_event, parse_time
from backend.provenance.epcis.hashing import event_hash, namespaces_of
from backend.provenance.epcis.identifiers import Identifier
from backend.provenance.epcis.schema import validate_document
from backend.settings import get_settings
from tests.provenance.reference_hash import reference_hashes
from tests.provenance.support import EXAMPLES, Api, commission, document, load, ship

SCHEMA = get_settings().schema_path


def prepare(api: Api, example: dict[str, Any]) -> None:
    """Register every GTIN and serial the example names, commission the items that the example does
    not create itself, and ship the items it receives without shipping them first."""
    namespaces = namespaces_of(example["@context"])
    events = [parse_event(body, namespaces, i) for i, body in enumerate(example["epcisBody"]["eventList"])]
    api.organisation("example-brand", ["brand", "manufacturer", "distributor", "retailer"])
    named = [i for e in events for _, i in e.named()]
    gtins = sorted({i.gtin for i in named if i.gtin})
    # The GS1 examples' GTINs lie under 7-digit company prefixes (0614141, 4012345…): the brand
    # registers them under its own.
    for prefix in sorted({gtin[1:8] for gtin in gtins}):
        api.prefix("example-brand", prefix)
    for gtin in gtins:
        api.product("example-brand", gtin)
    items: dict[str, Identifier] = {i.key: i for i in named if i.is_item}
    by_gtin: dict[str, list[str]] = {}
    for item in items.values():
        assert item.gtin is not None
        assert item.serial is not None
        by_gtin.setdefault(item.gtin, []).append(item.serial)
    for gtin, serials in by_gtin.items():
        api.items("example-brand", gtin, sorted(serials))
    outputs = {i.key for e in events for i in e.outputs}
    start = min(e.time for e in events) - timedelta(days=1)
    setup = [commission(sorted(i.uri for k, i in items.items() if k not in outputs), start)]
    shipped: set[str] = set()
    received = []
    for e in sorted(events, key=lambda e: e.time):
        targets = [i for i in [*e.epcs, *e.children] if i.is_item]
        if e.biz_step == "shipping":
            shipped |= {i.key for i in targets}
        elif e.biz_step == "receiving":
            received += [i.uri for i in targets if i.key not in shipped]
    if received:
        setup.append(ship(sorted(set(received)), start + timedelta(hours=1)))
    if setup[0]["epcList"]:
        api.accept("example-brand", *setup)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_official_example_is_accepted_and_exported(api: Api, path: Path) -> None:
    example = load(path)
    prepare(api, example)

    response = api.capture("example-brand", example)
    assert response.status_code == 201, response.text
    captured = response.json()["events"]
    assert [c["event_id"] for c in captured] == [e["eventID"] for e in example["epcisBody"]["eventList"]]
    assert all(c["event_hash"].startswith("ni:///sha-256;") for c in captured)

    exported = api.events()
    assert validate_document(exported, SCHEMA) == []
    ids = [e["eventID"] for e in exported["epcisBody"]["eventList"]]
    assert set(ids) >= {c["event_id"] for c in captured}
    # Extension fields come back with their prefix declared.
    assert {"example": "http://ns.example.com/epcis/"} in exported["@context"]
    # Every exported event hashes, by GS1's reference implementation, to the hash it was captured
    # with (the example's events and those of the set-up alike).
    assert {c["event_hash"] for c in captured} <= set(reference_hashes(exported))
    assert reference_hashes(exported) == [
        event_hash(e, namespaces_of(exported["@context"])) for e in exported["epcisBody"]["eventList"]
    ]
    assert [c["event_hash"] for c in captured] == reference_hashes(example)

    again = api.capture("example-brand", example)
    assert again.status_code == 409
    assert {p["rule"] for p in again.json()["error"]["problems"]} == {"duplicate_event"}


def test_examples_times_are_read_in_utc() -> None:
    assert parse_time("2005-04-03T20:33:31.116000-06:00").isoformat() == "2005-04-04T02:33:31.116000+00:00"
    assert document()["epcisBody"]["eventList"] == []
