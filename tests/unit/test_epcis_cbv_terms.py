"""Every CBV-valued field written with its bare short name hashes as its full Web URI, the way
the official JSON-LD context expands it and GS1's reference implementation hashes it (issue 16,
defect 5: a sensor ``component`` of ``latitude`` is ``https://ref.gs1.org/cbv/Comp-latitude``)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from backend.provenance.epcis.hashing import VOCABULARY_OF_FIELD, event_hash, namespaces_of
from backend.settings import get_settings
from tests.provenance.reference_hash import reference_hashes
from tests.provenance.support import document

SENSOR_EVENT: dict[str, Any] = {
    "type": "ObjectEvent",
    "eventTime": "2026-01-05T08:00:00.000Z",
    "eventTimeZoneOffset": "+00:00",
    "epcList": ["https://id.gs1.org/01/09506000134352/21/SN0001"],
    "action": "OBSERVE",
    "bizStep": "shipping",
    "disposition": "in_transit",
    "persistentDisposition": {"set": ["completeness_verified"], "unset": ["completeness_inferred"]},
    "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:PO1"}],
    "sourceList": [{"type": "owning_party", "source": "https://id.gs1.org/417/9520123456788"}],
    "destinationList": [{"type": "location", "destination": "https://id.gs1.org/414/9520999888770"}],
    "sensorElementList": [
        {
            "sensorMetadata": {"time": "2026-01-05T08:00:00.000Z"},
            "sensorReport": [
                {"type": "Temperature", "value": 4.5, "uom": "CEL"},
                {"type": "Length", "component": "latitude", "value": 50.9},
                {"type": "Length", "component": "longitude", "value": 6.9},
                {"type": "Temperature", "exception": "ALARM_CONDITION", "value": 9},
            ],
        }
    ],
}


def _official_context() -> dict[str, Any]:
    return dict(json.loads((get_settings().epcis_dir / "epcis-context.jsonld").read_text())["@context"])


def test_every_cbv_valued_field_hashes_as_the_reference_implementation() -> None:
    doc = document(SENSOR_EVENT)
    assert [event_hash(SENSOR_EVENT)] == reference_hashes(doc)


def test_a_bare_component_and_its_web_uri_are_the_same_event() -> None:
    full = copy.deepcopy(SENSOR_EVENT)
    full["sensorElementList"][0]["sensorReport"][1]["component"] = "https://ref.gs1.org/cbv/Comp-latitude"
    full["sensorElementList"][0]["sensorReport"][2]["component"] = "cbv:Comp-longitude"
    assert event_hash(full) == event_hash(SENSOR_EVENT)


def _scoped(context: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """The term definitions the official context gives the values of the field at ``path``."""
    for name in path:
        scoped = context[name]["@context"]
        context = {k: v for part in scoped for k, v in part.items()} if isinstance(scoped, list) else scoped
    return context


@pytest.mark.parametrize("path", sorted(VOCABULARY_OF_FIELD), ids="/".join)
def test_our_vocabulary_table_is_the_official_contexts(path: tuple[str, ...]) -> None:
    """Each bare term the official context defines for the field expands to our table's IRI."""
    context = _official_context()
    prefixes = namespaces_of(context)
    terms = {k: v for k, v in _scoped(context, path).items() if isinstance(v, str) and not k.startswith("@")}
    terms = {k: v for k, v in terms.items() if ":" in v and v.split(":", 1)[0] in prefixes}
    assert terms, path
    base = VOCABULARY_OF_FIELD[path]
    for term, curie in terms.items():
        prefix, local = curie.split(":", 1)
        assert prefixes[prefix] + local == base + term, (path, term)
