"""The timeline: each EPCIS event is shown in its public form (backend/provenance/epcis/public_form.py):
the item asked in clear, every other serialized item as its token. The verifier computes the item's
own token from the serial asked and the salt, puts it in place of the item in the body (a body that
still names another item in clear fails: it leaks a serial), recomputes the public form and its
SHA-256, and from them and the commitment to the event's CBV hash the anchored value. Each event
must say what the timeline shows, must name the item's token (or a container the timeline shows it
was packed into), and must be anchored on the pinned registry by the organisation shown, in a
transaction on the node's chain. A proof without its event, an event without its body or anchor,
and a container without the packing that put the item inside are failures: that is how a dropped
or spliced event shows."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend.provenance.epcis.events import as_identifier, parse_time, short_term
from backend.provenance.epcis.public_form import (
    Unpublishable,
    anchored_value,
    public_body,
    public_digest,
    public_form,
)
from backend.provenance.merkle import event_leaf, verify
from backend.provenance.verifier.checks import Checks, Malformed, bytes32, need, nodes
from backend.provenance.verifier.item import AskedItem
from backend.provenance.verifier.pinning import ChainPin
from backend.provenance.verifier.registration import ItemLeaf
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


@dataclass(frozen=True)
class PublicEvent:
    """A step's event as the verifier rebuilt it: its public body (the item asked as its token),
    the public form, and the anchored value computed from them."""

    body: dict[str, Any]
    form: str
    anchored: bytes


def public_event(step: Mapping[str, Any], own_key: str, own_token: str) -> PublicEvent:
    """The step's event rebuilt from its body shown (Unpublishable if the body names another
    serialized item in clear), and the anchored value from it and the step's CBV commitment."""
    body = need(step, "body", dict)
    namespaces = step.get("namespaces") or {}
    if not isinstance(namespaces, dict) or not all(isinstance(v, str) for v in namespaces.values()):
        raise Malformed("namespaces is not a map of prefixes to URIs")
    public = public_body(body, namespaces, {own_key: own_token})
    form = public_form(public, namespaces)
    commitment = bytes32(need(step, "cbv_commitment", str), "cbv_commitment")
    return PublicEvent(public, form, anchored_value(commitment, public_digest(form)))


def _check_body(checks: Checks, item: AskedItem, own_token: str, label: str, step: Mapping[str, Any]) -> PublicEvent:
    try:
        event = public_event(step, item.key, own_token)
    except Unpublishable as leak:
        checks.add(f"{label}: no other item in clear", False, f"the body shows a serial it must hide: {leak}")
        raise
    if "public_form" in step:
        checks.add(f"{label}: public form is its body's", step["public_form"] == event.form, event.form[:80] + "…")
    digest = "0x" + public_digest(event.form).hex()
    checks.add(f"{label}: hash recomputed from its body", need(step, "public_hash", str) == digest, digest)
    expected = shown_by(step["body"])
    differ = [f"{k}: shown {step.get(k)!r}, body says {v!r}" for k, v in expected.items() if step.get(k) != v]
    checks.add(f"{label}: shown as its body says", not differ, "; ".join(differ) or str(expected["event"]))
    names = named_in(event.body)
    container = step.get("container")
    if container is None:
        checks.add(f"{label}: names the item asked", own_token in names, f"{item.key} as {own_token}")
    else:
        checks.add(f"{label}: names its container", _key(container) in names, str(container))
    return event


def _check_anchor(
    checks: Checks, pin: ChainPin, label: str, step: Mapping[str, Any], anchored: bytes, anchor: Mapping[str, Any]
) -> None:
    root = bytes32(need(anchor, "root", str), "root")
    path = nodes(need(anchor, "merkle_proof", list))
    leaf = event_leaf(anchored)
    if "leaf" in anchor:
        checks.add(f"{label}: leaf of its anchored value", bytes32(anchor["leaf"], "leaf") == leaf, "0x" + leaf.hex())
    checks.add(f"{label}: Merkle proof (local)", verify(path, root, leaf), "root 0x" + root.hex())
    on_chain = pin.registry.functions.isEventAnchored(anchored, root, path).call()
    checks.add(f"{label}: isEventAnchored on the pinned registry", bool(on_chain), "0x" + anchored.hex())
    writer = bytes(pin.registry.functions.eventAnchors(root).call()[0])
    shown = (step.get("organisation") or {}).get("chain_id")
    checks.add(
        f"{label}: anchored by the organisation shown",
        shown is not None and bytes32(shown) == writer,
        f"on chain 0x{writer.hex()}, shown {shown}",
    )
    check_transaction(checks, f"{label} anchor", pin.w3, pin.address, anchor, EVENTS_ANCHORED, [root, writer])
    same = (step.get("transaction"), step.get("block_number")) == (
        anchor.get("transaction"),
        anchor.get("block_number"),
    )
    checks.add(f"{label}: timeline shows its anchor", same, str(anchor.get("transaction")))


def _inside(own_token: str, container: str, at: int, events: list[PublicEvent]) -> bool:
    """Whether the shown packing events put the item (its token; directly or in nested containers)
    into ``container`` by time ``at``."""
    parents: dict[str, set[str]] = {}
    for event in events:
        body = event.body
        packed = body.get("type") in PACKING_TYPES and body.get("action") == "ADD" and body.get("parentID")
        if packed and shown_by(body)["time"] <= at:
            for child in body.get("childEPCs") or []:
                parents.setdefault(_key(child), set()).add(_key(body["parentID"]))
    seen, queue = {own_token}, deque([own_token])
    while queue:
        for parent in parents.get(queue.popleft(), ()):
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return container in seen


def check_timeline(
    checks: Checks, pin: ChainPin, item: AskedItem, answer: Mapping[str, Any], leaf: ItemLeaf | None
) -> None:
    """Every check of the timeline; ``leaf`` is the item's leaf as the verifier computed it (its
    token: ``item:0x<leaf>``), None if the answer gave no usable salt (then nothing is checked)."""
    trail, proof = answer.get("trail"), answer.get("proof") or {}
    if not checks.add("timeline", isinstance(trail, list), "present" if isinstance(trail, list) else "missing"):
        return
    assert isinstance(trail, list)
    if not checks.add(
        "the item's token",
        leaf is not None,
        "computed from the serial asked and the salt"
        if leaf
        else "cannot be computed (no usable salt): no event can be checked",
    ):
        return
    assert leaf is not None
    own_token = "item:0x" + leaf.leaf.hex()
    anchors: dict[bytes, Mapping[str, Any]] = {}
    with checks.guard("event anchors"):
        for anchor in need(proof, "events", list):
            anchored = bytes32(need(anchor, "anchored", str), "anchored")
            if anchored in anchors:
                checks.add("one anchor per event", False, f"two proofs for event 0x{anchored.hex()}")
            anchors[anchored] = anchor
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
    checked: dict[int, PublicEvent] = {}  # by the step's position in ``events``
    for number, (label, step) in enumerate(events):
        with checks.guard(label):
            event = _check_body(checks, item, own_token, label, step)
            checks.add(f"{label}: shown once", event.anchored not in shown, "0x" + event.anchored.hex())
            shown.add(event.anchored)
            checked[number] = event
            anchor = anchors.get(event.anchored)
            if checks.add(
                f"{label}: anchored",
                anchor is not None,
                "its proof is in the answer"
                if anchor
                else "no anchor proof for this event (not anchored yet, or dropped from the answer)",
            ):
                assert anchor is not None
                _check_anchor(checks, pin, label, step, event.anchored, anchor)
    for anchored in anchors.keys() - shown:
        checks.add(
            "every anchored event is shown", False, f"a proof for event 0x{anchored.hex()} that the timeline lacks"
        )
    for number, (label, step) in enumerate(events):
        if step.get("container") is not None and number in checked:
            with checks.guard(f"{label}: inside its container"):
                at = shown_by(step["body"])["time"]
                inside = _inside(own_token, _key(step["container"]), at, list(checked.values()))
                checks.add(
                    f"{label}: the item was packed into its container",
                    inside,
                    f"a shown packing event puts it in {step['container']}"
                    if inside
                    else f"no shown packing event puts the item into {step['container']} (dropped?)",
                )
