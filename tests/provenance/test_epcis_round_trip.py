"""Capture → export → capture again into a fresh database gives the same event hashes and the
same verification answers (issue 16). Histories are generated (seeded): items commissioned,
packed, shipped (sometimes with a despatch-advice TransactionEvent), received as a pallet listing
its children, inspected with extension fields under a prefix each capture binds differently and
with sensor reports in bare CBV terms, sometimes declared erroneous and corrected."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.cli.seed import seed_demo
from backend.db.engine import make_engine
from backend.settings import Settings
from tests.budget import examples
from tests.provenance.support import FRESH, Api, at, commission, document, event, pack, receive, sgtin, ship
from tests.support import copy_database

SERIALS = [f"SN000{n}" for n in range(1, 6)]
PALLET = "urn:epc:id:sscc:0950600.0000000007"


def _fresh_api(settings: Settings, template: Path, path: Path) -> Api:
    copy_database(template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    keys = seed_demo(engine, settings, 31337)
    app = create_app(settings.model_copy(update={"database_url": url}), engine)
    api = Api(TestClient(app, raise_server_exceptions=False), engine, {"admin": keys.admin, "demo-brand": keys.brand})
    api.product("demo-brand", FRESH, "Tea caddy")
    api.items("demo-brand", FRESH, SERIALS)
    return api


def _histories(rng: random.Random, seed: int) -> list[dict[str, Any]]:
    """Documents to capture in order (each accepted by the rules); even seeds declare an event
    erroneous and receive with an AggregationEvent, odd ones add a TransactionEvent."""
    items = [sgtin(FRESH, s) for s in rng.sample(SERIALS, rng.randint(2, 5))]
    prefix = {"ext": f"https://{rng.choice(['a', 'b'])}.example.com/"}
    made = commission(items, at(0))
    docs = [document(made)]
    if seed % 2 == 0:  # declared erroneous (wrong place) and corrected in one document
        fixed = {**made, "bizLocation": {"id": "urn:epc:id:sgln:0950600.01347.0"}, "eventID": "urn:uuid:fix-1"}
        declared = {**made, "errorDeclaration": {"declarationTime": "2026-01-06T00:00:00Z", "reason": "incorrect_data"}}
        docs.append(document(declared, fixed))
    shipping = [pack(PALLET, items, at(1)), ship([PALLET], at(2))]
    if seed % 2 == 1:
        shipping.append(
            event(
                "TransactionEvent",
                at(2),
                action="ADD",
                epcList=items,
                bizTransactionList=[{"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0950600000007:D1"}],
            )
        )
    docs.append(document(*shipping))
    received = (
        event("AggregationEvent", at(3), bizStep="receiving", parentID=PALLET, childEPCs=items)
        if seed % 2 == 0
        else receive([PALLET, *items], at(3))
    )
    inspected = event(
        "ObjectEvent",
        at(4),
        bizStep="inspecting",
        epcList=items[:1],
        sensorElementList=[{"sensorReport": [{"type": "Length", "component": "latitude", "value": rng.random()}]}],
        **{"ext:grade": f"ext:{rng.choice(['A', 'B'])}"},
    )
    docs.append(document(received, inspected, prefixes=prefix))
    return docs


def _answers(api: Api) -> list[Any]:
    answers = []
    for serial in SERIALS:
        answer = api.client.get(f"/01/{FRESH}/21/{serial}", params={"format": "json", "scan": "false"}).json()
        steps = [(s["event"], s["time"], s["action"], s["disposition"], s["erroneous"]) for s in answer["trail"]]
        answers.append((answer["verdict"], steps))
    return answers


@pytest.mark.sqlite_only
def test_capture_export_capture_again_keeps_hashes_and_answers(
    settings: Settings, migrated_template: Path, tmp_path: Path
) -> None:
    for seed in range(examples(2, 25)):
        rng = random.Random(seed)
        first = _fresh_api(settings, migrated_template, tmp_path / f"first-{seed}.db")
        hashes: list[str] = []
        for doc in _histories(rng, seed):
            hashes += [c["event_hash"] for c in first.accept_document(doc)]
        exported = first.events(until="2026-02-01T00:00:00Z")  # the pallet's own events too
        second = _fresh_api(settings, migrated_template, tmp_path / f"second-{seed}.db")
        again = second.capture("demo-brand", exported)
        assert again.status_code == 201, again.text
        assert sorted(c["event_hash"] for c in again.json()["events"]) == sorted(set(hashes))
        assert _answers(second) == _answers(first)
        first.engine.dispose()
        second.engine.dispose()
