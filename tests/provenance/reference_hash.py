"""GS1's reference implementation of the EPCIS event hash (``epcis-event-hash-generator`` on
PyPI, a dev-only dependency), called the way its command line does. It loads the official
context from a copy inside its package: no download."""

from __future__ import annotations

import copy
from typing import Any

from epcis_event_hash_generator import hash_generator, json_to_py


def reference_prehashes(document: dict[str, Any]) -> list[str]:
    json_to_py._namespaces.clear()  # the reference keeps the prefixes of the last document in a global
    events = json_to_py.event_list_from_epcis_document_json(copy.deepcopy(document))
    return list(hash_generator.derive_prehashes_from_events(events))


def reference_hashes(document: dict[str, Any]) -> list[str]:
    return list(hash_generator.calculate_hashes_from_pre_hashes(reference_prehashes(document)))
