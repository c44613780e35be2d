"""Finding 10: `credance verify` trusts nothing but the chain it is pointed at. It recomputes the
item's leaf from the serial *asked*, every event's hash from the body shown, takes the registry
from a pinned address or a trusted manifest, asks the chain itself about recalls (through the
recall hook, which fails closed), and fails on anything missing or inconsistent. Each tampering
below is one a malicious server (or anyone editing a saved answer) could try; each would pass
the old verifier or crash it, and each fails now. Real Anvil, real API."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backend.api.app import create_app
from backend.chain.manifest import manifest_path
from backend.provenance import proofcheck
from backend.provenance.epcis.anchoring import Anchorer
from backend.provenance.epcis.identifiers import item_key
from backend.provenance.epcis.public_form import public_body, public_digest, public_form
from backend.provenance.proofcheck import Check, RecallQuery, verify_answer
from backend.provenance.verifier.item import item_of
from backend.provenance.verifier.pinning import ChainPin, PinError, pin_chain
from backend.provenance.verifier.timeline import public_event
from tests.provenance.support import serving
from tests.support import CREDANCE_CLI, Platform

pytestmark = [pytest.mark.chain, pytest.mark.sqlite_only]

DEMO, OTHER = "09506000134352", "09506000134369"  # the demo products, SN0001-SN0005 each, with a history
Answer = dict[str, Any]


@pytest.fixture
def anchored(platform: Platform) -> Platform:
    Anchorer(platform.engine, batch_size=256, max_delay_ms=0).step(force=True)
    platform.settle()
    return platform


@pytest.fixture
def pin(anchored: Platform) -> ChainPin:
    return pin_chain(anchored.ctx.w3, manifest=manifest_path(anchored.settings.deployments_dir, anchored.ctx.chain_id))


def answer_for(platform: Platform, gtin: str, serial: str) -> Answer:
    response = platform.client.get(f"/01/{gtin}/21/{serial}", params={"format": "json", "scan": "false"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def failed(pin: ChainPin, answer: Answer, gtin: str = DEMO, serial: str = "SN0001") -> list[str]:
    return [c.what for c in verify_answer(pin, item_of(gtin, serial), answer).failures]


def step_of(answer: Answer, event: str) -> dict[str, Any]:
    return next(s for s in answer["trail"] if s.get("event") == event)


def own_token(answer: Answer) -> str:
    return "item:0x" + answer["proof"]["leaf"][2:]


def anchored_of(answer: Answer, step: dict[str, Any]) -> str:
    """The anchored value of a step, as a verifier computes it (and finds its proof by)."""
    key = item_key(answer["gtin"], answer["serial"])
    return "0x" + public_event(step, key, own_token(answer)).anchored.hex()


def proof_of(answer: Answer, step: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in answer["proof"]["events"] if p["anchored"] == anchored_of(answer, step))


def rehash(answer: Answer, step: dict[str, Any]) -> None:
    """What a careful forger does after editing a body: recompute its public form and hash."""
    key = item_key(answer["gtin"], answer["serial"])
    step["public_form"] = public_form(
        public_body(step["body"], step["namespaces"], {key: own_token(answer)}), step["namespaces"]
    )
    step["public_hash"] = "0x" + public_digest(step["public_form"]).hex()


def test_a_genuine_answer_passes_every_check_and_shows_its_bodies(anchored: Platform, pin: ChainPin) -> None:
    answer = answer_for(anchored, DEMO, "SN0001")
    report = verify_answer(pin, item_of(DEMO, "SN0001"), answer)
    assert report.failures == []
    names = {c.what for c in report.checks}
    assert {
        "isItemRegistered on the pinned registry",
        "commitment of the serial asked",
        "brand shown owns the GTIN on chain",
        "whole-GTIN recall asked of the chain",
    } <= names
    events = [s for s in answer["trail"] if "body" in s]
    assert [s["event"] for s in events] == ["commissioning", "packing", "shipping", "receiving", "unpacking"]
    for step in events:  # each shown event carries what its hash covers (the item asked as its own token)
        assert f"event {answer['trail'].index(step) + 1} ({step['event']}): hash recomputed from its body" in names
        assert step["public_form"] == public_event(step, item_key(DEMO, "SN0001"), own_token(answer)).form
    assert sum(1 for c in report.checks if c.what.endswith("isEventAnchored on the pinned registry")) == 5
    assert [s["container"] is not None for s in events] == [False, False, True, True, False]


def test_every_tampering_fails(anchored: Platform, pin: ChainPin) -> None:
    genuine = answer_for(anchored, DEMO, "SN0001")
    other = answer_for(anchored, DEMO, "SN0002")
    registry = pin.address

    def serial_changed(a: Answer) -> None:  # the reported attack: still "ok" before
        a["serial"] = a["proof"]["serial"] = "SN0002"

    def another_items_proof(a: Answer) -> None:
        for key in ("salt", "commitment", "leaf", "root", "merkle_proof"):
            a["proof"][key] = other["proof"][key]

    def body_changed(a: Answer) -> None:
        step_of(a, "shipping")["body"]["bizStep"] = "receiving"

    def body_changed_and_rehashed(a: Answer) -> None:
        step = step_of(a, "shipping")
        proof = proof_of(a, step)
        step["body"]["bizLocation"] = {"id": "urn:epc:id:sgln:9506000.00042.0"}
        rehash(a, step)
        proof["anchored"] = anchored_of(a, step)

    def shown_differently(a: Answer) -> None:
        step_of(a, "receiving")["location"] = "https://id.gs1.org/414/9506000000421"

    def event_dropped_from_timeline(a: Answer) -> None:
        a["trail"].remove(step_of(a, "shipping"))

    def packing_dropped_everywhere(a: Answer) -> None:
        step = step_of(a, "packing")
        a["trail"].remove(step)
        a["proof"]["events"] = [p for p in a["proof"]["events"] if p["anchored"] != anchored_of(a, step)]

    def body_missing(a: Answer) -> None:
        del step_of(a, "shipping")["body"]

    def event_proofs_missing(a: Answer) -> None:
        a["proof"]["events"] = []

    def item_proof_missing(a: Answer) -> None:
        a["proof"]["merkle_proof"] = []

    def no_proof(a: Answer) -> None:
        a["proof"] = None

    def contract_changed(a: Answer) -> None:
        a["proof"]["contract"] = "0x" + "42" * 20

    def chain_id_changed(a: Answer) -> None:
        a["proof"]["chain_id"] = 1

    def registration_moved(a: Answer) -> None:
        a["proof"]["block_number"] += 1

    def anchor_transaction_swapped(a: Answer) -> None:
        a["proof"]["events"][0]["transaction"] = a["proof"]["transaction"]

    def not_an_answer(a: Answer) -> None:
        a.clear()

    def recall_step_invented(a: Answer) -> None:
        a["trail"].append({"event": "recalled", "reason": "Contaminated", "time": None, "block_number": None})

    tampers: dict[Callable[[Answer], None], str] = {
        serial_changed: "the answer is about the item asked",
        another_items_proof: "commitment of the serial asked",
        body_changed: "event 3 (shipping): hash recomputed from its body",
        body_changed_and_rehashed: "event 3 (shipping): isEventAnchored on the pinned registry",
        shown_differently: "event 4 (receiving): shown as its body says",
        event_dropped_from_timeline: "every anchored event is shown",
        packing_dropped_everywhere: "event 2 (shipping): the item was packed into its container",
        body_missing: "event 3 (shipping)",
        event_proofs_missing: "event 1 (commissioning): anchored",
        item_proof_missing: "item Merkle proof (local)",
        no_proof: "proof",
        contract_changed: "the answer's contract is the pinned registry",
        chain_id_changed: "the answer's chain id is the pinned chain",
        registration_moved: "registration: in the block claimed",
        anchor_transaction_swapped: "event 1 (commissioning) anchor: event emitted by the pinned contract",
        not_an_answer: "proof",
        recall_step_invented: "a recall in the timeline is in the proof",
    }
    assert failed(pin, copy.deepcopy(genuine)) == []
    missed = {}
    for tamper, expected in tampers.items():
        forged = copy.deepcopy(genuine)
        tamper(forged)
        failures = failed(pin, forged)
        if expected not in failures:
            missed[tamper.__name__] = failures
    assert missed == {}, f"registry {registry}: {json.dumps(missed, indent=1)}"
    # The genuine answer of one serial is no proof of another: asked SN0002, answered SN0001.
    assert "commitment of the serial asked" in failed(pin, copy.deepcopy(genuine), serial="SN0002")


def test_only_the_pinned_chain_and_registry_count(anchored: Platform, pin: ChainPin, tmp_path: Path) -> None:
    w3 = anchored.ctx.w3
    genuine = answer_for(anchored, DEMO, "SN0001")
    # Another contract with code (the loyalty token) pinned as the registry: nothing verifies.
    wrong = verify_answer(pin_chain(w3, registry=anchored.ctx.points.address), item_of(DEMO, "SN0001"), genuine)
    assert {"the answer's contract is the pinned registry", "item Merkle proof", "recalls"} <= {
        c.what for c in wrong.failures
    }
    with pytest.raises(PinError, match="not the pinned chain 1"):
        pin_chain(w3, registry=pin.address, chain_id=1)
    with pytest.raises(PinError, match="no contract"):
        pin_chain(w3, registry="0x" + "42" * 20)
    manifest = json.loads(manifest_path(anchored.settings.deployments_dir, anchored.ctx.chain_id).read_text())
    manifest["chain_id"] = 5
    other_chain = tmp_path / "5.json"
    other_chain.write_text(json.dumps(manifest))
    with pytest.raises(PinError, match="not the pinned chain 5"):
        pin_chain(w3, manifest=other_chain)


def test_recalls_are_asked_of_the_chain_and_the_hook_fails_closed(
    anchored: Platform, pin: ChainPin, monkeypatch: pytest.MonkeyPatch
) -> None:
    recall = anchored.client.post(
        "/v1/recalls", json={"gtin": OTHER, "reason": "Withdrawn"}, headers=anchored.headers("brand")
    )
    assert recall.status_code == 201, recall.text
    anchored.settle()
    recalled = answer_for(anchored, OTHER, "SN0001")
    assert recalled["verdict"] == "recalled"
    assert failed(pin, copy.deepcopy(recalled), OTHER) == []
    # The recall dropped from the answer, the verdict made "authentic": the chain says otherwise.
    dropped = copy.deepcopy(recalled)
    dropped.update(verdict="authentic", reason="Registered on chain by an authorised manufacturer.", reasons=[])
    dropped["proof"]["recall"] = None
    dropped["trail"] = [s for s in dropped["trail"] if s["event"] != "recalled"]
    assert "whole-GTIN recall asked of the chain" in failed(pin, dropped, OTHER)
    hidden = copy.deepcopy(recalled)  # the recall shown, the verdict softened
    hidden["verdict"] = "authentic"
    assert "a recall shown makes the verdict 'recalled'" in failed(pin, hidden, OTHER)
    # A recall claimed for an item the chain does not recall.
    claimed = copy.deepcopy(answer_for(anchored, DEMO, "SN0001"))
    claimed["verdict"] = "recalled"
    claimed["proof"]["recall"] = {**recalled["proof"]["recall"], "gtin": DEMO}
    assert "the whole-GTIN recall claimed is on chain" in failed(pin, claimed)

    # The recall check is one hook, called with the item asked and the leaf the verifier computed …
    genuine = answer_for(anchored, DEMO, "SN0001")
    seen: list[RecallQuery] = []

    def watching(query: RecallQuery) -> list[Check]:
        seen.append(query)
        return [Check("recalls", True, "none")]

    monkeypatch.setattr(proofcheck, "check_recalls", watching)
    assert failed(pin, genuine) == []
    assert [(q.item.gtin, q.item.serial, q.leaf is not None) for q in seen] == [(DEMO, "SN0001", True)]

    # … and whatever it reports as a problem, or if it breaks or says nothing, the item fails.
    def reporting(query: RecallQuery) -> list[Check]:
        return [Check("recall scope of the brand", False, "the item is in a recall scope the answer lacks")]

    def breaking(query: RecallQuery) -> list[Check]:
        raise ConnectionError("scope endpoint unreachable")

    def silent(query: RecallQuery) -> list[Check]:
        return []

    for hook, expected in ((reporting, "recall scope of the brand"), (breaking, "recalls"), (silent, "recalls")):
        monkeypatch.setattr(proofcheck, "check_recalls", hook)
        assert failed(pin, genuine) == [expected], hook.__name__


def test_the_command_line_asks_about_the_item_and_pins_the_chain(anchored: Platform, tmp_path: Path) -> None:
    rpc = anchored.settings.resolved_rpc_url
    manifest = str(manifest_path(anchored.settings.deployments_dir, anchored.ctx.chain_id))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CREDANCE_CLI, "verify", *args, "--rpc-url", rpc], capture_output=True, text=True, timeout=120
        )

    with serving(create_app(anchored.settings, anchored.engine)) as site:
        genuine = run(f"{site}/01/{DEMO}/21/SN0001", "--manifest", manifest)
    assert genuine.returncode == 0, genuine.stdout + genuine.stderr
    assert "VERIFIED" in genuine.stderr
    assert "isItemRegistered on the pinned registry" in genuine.stderr

    # A saved answer is checked against the item it must be about (here by GTIN and serial, the
    # registry pinned by its address): SN0001's answer with its serial changed to SN0003.
    saved = tmp_path / "answer.json"
    forged = answer_for(anchored, DEMO, "SN0001")
    forged["serial"] = forged["proof"]["serial"] = "SN0003"
    saved.write_text(json.dumps(forged))
    tampered = run(
        "--gtin",
        DEMO,
        "--serial",
        "SN0003",
        "--answer",
        str(saved),
        "--registry",
        anchored.ctx.registry.address,
        "--json",
    )
    assert tampered.returncode == 1, tampered.stderr
    report = json.loads(tampered.stdout)
    assert (report["ok"], report["serial"], report["registry"]) == (False, "SN0003", anchored.ctx.registry.address)
    assert "commitment of the serial asked" in [c["check"] for c in report["checks"] if not c["ok"]]
    # A hostile answer nested without bound is refused before it is parsed.
    saved.write_text("[" * 100_000 + "]" * 100_000)
    deep = run(
        "--gtin", DEMO, "--serial", "SN0001", "--answer", str(saved), "--registry", anchored.ctx.registry.address
    )
    assert deep.returncode == 2, deep.stderr
    assert "nests deeper than" in deep.stderr
    # The old way (a saved answer alone: the item and the chain taken from it) is refused.
    alone = run(str(saved))
    assert alone.returncode == 2
    assert "--answer FILE" in alone.stderr
