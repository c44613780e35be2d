"""The timeline: each EPCIS event shown is recomputed from its body (canonical pre-hash string,
SHA-256), must say what the timeline shows, must be about the item asked (or a container the
timeline shows it was packed into), and must be anchored on the pinned registry by the
organisation shown, in a transaction on the node's chain. A proof without its event, an event
without its body or anchor, and a container without the packing that put the item inside are
failures: that is how a dropped or spliced event shows."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping
from typing import Any

from backend.provenance.epcis.events import as_identifier, parse_time, short_term
from backend.provenance.epcis.hashing import VERSION, pre_hash_string
from backend.provenance.merkle import event_leaf, verify
from backend.provenance.verifier.checks import Checks, Malformed, bytes32, need, nodes
from backend.provenance.verifier.item import AskedItem
from backend.provenance.verifier.pinning import ChainPin
from backend.provenance.verifier.registry import EVENTS_ANCHORED, check_transaction

SYNTHETIC = ("registered", "recalled")  # steps checked against the registration and the recall
NAMING_FIELDS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
PACKING_TYPES = ("AggregationEvent", "AssociationEvent")


def _key(uri: Any) -> str:
    if not isinstance(uri, str):
        raise Malformed(f"{uri!r} is not an identifier")
    return as_identifier(uri).key


def named_in(body: Mapping[str, Any]) -> set[str]:
    """The keys of every identifier an event names (the item index's keys)."""
    names = {_key(uri) for field in NAMING_FIELDS for uri in body.get(field) or []}
    if body.get("parentID"):
        names.add(_key(body["parentID"]))
    return names


def shown_by(body: Mapping[str, Any]) -> dict[str, Any]:
    """What a timeline step must show for this body (see verification._event_step)."""
    location = body.get("bizLocation") or body.get("readPoint")
    return {
        "event_type": body.get("type"),
        "action": body.get("action"),
        "time": int(parse_time(need(body, "eventTime", str)).timestamp()),
        "event": short_term(body.get("bizStep"), "BizStep-") or body.get("type"),
        "disposition": short_term(body.get("disposition"), "Disp-"),
        "location": _key(location["id"]) if isinstance(location, Mapping) and "id" in location else None,
    }


def event_digest(step: Mapping[str, Any]) -> tuple[bytes, str]:
    """SHA-256 of the canonical pre-hash string recomputed from the step's body, and that string."""
    body = need(step, "body", dict)
    namespaces = step.get("namespaces") or {}
    if not isinstance(namespaces, dict) or not all(isinstance(v, str) for v in namespaces.values()):
        raise Malformed("namespaces is not a map of prefixes to URIs")
    canonical = pre_hash_string(body, namespaces)
    return hashlib.sha256(canonical.encode()).digest(), canonical


def _check_body(checks: Checks, item: AskedItem, label: str, step: Mapping[str, Any]) -> bytes:
    digest, canonical = event_digest(step)
    if "canonical" in step:
        checks.add(f"{label}: canonical string is its body's", step["canonical"] == canonical, canonical[:80] + "…")
    uri = f"ni:///sha-256;{digest.hex()}?ver={VERSION}"
    checks.add(f"{label}: hash recomputed from its body", need(step, "event_hash", str) == uri, uri)
    expected = shown_by(step["body"])
    differ = [f"{k}: shown {step.get(k)!r}, body says {v!r}" for k, v in expected.items() if step.get(k) != v]
    checks.add(f"{label}: shown as its body says", not differ, "; ".join(differ) or str(expected["event"]))
    names = named_in(step["body"])
    container = step.get("container")
    if container is None:
        checks.add(f"{label}: names the item asked", item.key in names, item.key)
    else:
        checks.add(f"{label}: names its container", _key(container) in names, str(container))
    return digest


def _check_anchor(checks: Checks, pin: ChainPin, label: str, step: Mapping[str, Any], digest: bytes,
                  anchor: Mapping[str, Any]) -> None:  # fmt: skip
    root = bytes32(need(anchor, "root", str), "root")
    path = nodes(need(anchor, "merkle_proof", list))
    leaf = event_leaf(digest)
    if "leaf" in anchor:
        checks.add(f"{label}: leaf of its hash", bytes32(anchor["leaf"], "leaf") == leaf, "0x" + leaf.hex())
    checks.add(f"{label}: Merkle proof (local)", verify(path, root, leaf), "root 0x" + root.hex())
    anchored = pin.registry.functions.isEventAnchored(digest, root, path).call()
    checks.add(f"{label}: isEventAnchored on the pinned registry", bool(anchored), "0x" + digest.hex())
    writer = bytes(pin.registry.functions.eventAnchors(root).call()[0])
    shown = (step.get("organisation") or {}).get("chain_id")
    checks.add(f"{label}: anchored by the organisation shown", shown is not None and bytes32(shown) == writer,
               f"on chain 0x{writer.hex()}, shown {shown}")  # fmt: skip
    check_transaction(checks, f"{label} anchor", pin.w3, pin.address, anchor, EVENTS_ANCHORED, [root, writer])
    same = (step.get("transaction"), step.get("block_number")) == (
        anchor.get("transaction"),
        anchor.get("block_number"),
    )
    checks.add(f"{label}: timeline shows its anchor", same, str(anchor.get("transaction")))


def _inside(item: AskedItem, container: str, at: int, steps: list[Mapping[str, Any]]) -> bool:
    """Whether the shown packing events put the item (directly or in nested containers) into
    ``container`` by time ``at``."""
    parents: dict[str, set[str]] = {}
    for step in steps:
        body = step["body"]
        packed = body.get("type") in PACKING_TYPES and body.get("action") == "ADD" and body.get("parentID")
        if packed and shown_by(body)["time"] <= at:
            for child in body.get("childEPCs") or []:
                parents.setdefault(_key(child), set()).add(_key(body["parentID"]))
    seen, queue = {item.key}, deque([item.key])
    while queue:
        for parent in parents.get(queue.popleft(), ()):
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return container in seen


def check_timeline(checks: Checks, pin: ChainPin, item: AskedItem, answer: Mapping[str, Any]) -> None:
    trail, proof = answer.get("trail"), answer.get("proof") or {}
    if not checks.add("timeline", isinstance(trail, list), "present" if isinstance(trail, list) else "missing"):
        return
    assert isinstance(trail, list)
    anchors: dict[bytes, Mapping[str, Any]] = {}
    with checks.guard("event anchors"):
        for anchor in need(proof, "events", list):
            digest = bytes32(need(anchor, "event_hash", str), "event_hash")
            if digest in anchors:
                checks.add("one anchor per event", False, f"two proofs for event 0x{digest.hex()}")
            anchors[digest] = anchor
    registered = [s for s in trail if isinstance(s, dict) and s.get("event") == "registered"]
    checks.add("one registration in the timeline", len(registered) == 1, f"{len(registered)} 'registered' steps")
    if any(isinstance(s, dict) and s.get("event") == "recalled" for s in trail):  # the recall check weighs it
        checks.add("a recall in the timeline is in the proof", isinstance(proof.get("recall"), dict), "proof.recall")
    events: list[tuple[str, Mapping[str, Any]]] = []
    for number, step in enumerate(trail, start=1):
        if (
            isinstance(step, dict)
            and step.get("event") in SYNTHETIC
            and "body" not in step
            and "event_type" not in step
        ):
            continue
        if not isinstance(step, dict):
            checks.add(f"step {number}", False, "not an object")
            continue
        events.append((f"event {number} ({step.get('event')})", step))
    shown: set[bytes] = set()
    checked: list[Mapping[str, Any]] = []
    for label, step in events:
        with checks.guard(label):
            digest = _check_body(checks, item, label, step)
            checks.add(f"{label}: shown once", digest not in shown, "0x" + digest.hex())
            shown.add(digest)
            checked.append(step)
            anchor = anchors.get(digest)
            if checks.add(f"{label}: anchored", anchor is not None, "its proof is in the answer" if anchor else
                          "no anchor proof for this event (not anchored yet, or dropped from the answer)"):  # fmt: skip
                assert anchor is not None
                _check_anchor(checks, pin, label, step, digest, anchor)
    for digest in anchors.keys() - shown:
        checks.add(
            "every anchored event is shown", False, f"a proof for event 0x{digest.hex()} that the timeline lacks"
        )
    for label, step in events:
        if step.get("container") is not None and step in checked:
            with checks.guard(f"{label}: inside its container"):
                at = shown_by(step["body"])["time"]
                inside = _inside(item, _key(step["container"]), at, checked)
                checks.add(f"{label}: the item was packed into its container", inside,
                           f"a shown packing event puts it in {step['container']}" if inside else
                           f"no shown packing event puts the item into {step['container']} (dropped?)")  # fmt: skip
