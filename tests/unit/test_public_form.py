"""The public form of an event (backend/provenance/epcis/public_form.py): every serialized item,
wherever and however the event names it, becomes its token; nothing else changes; the order in
which a writer listed its serials leaks nothing; what cannot get a token cannot be published."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from backend.provenance.epcis.hashing import event_hash, hash_digest, pre_hash_string
from backend.provenance.epcis.identifiers import item_key
from backend.provenance.epcis.public_form import (
    TOKEN,
    Unpublishable,
    anchored_hash,
    anchored_value,
    cbv_commitment,
    item_token,
    public_body,
    public_digest,
    public_form,
    serialized_mentions,
    shown_body,
)

GTIN = "09506000134352"
SERIALS = [f"SER-{n:03d}X" for n in range(8)]  # none is a part of another, none looks like hex
TOKENS = {item_key(GTIN, s): item_token(GTIN, os.urandom(32)) for s in SERIALS}
SSCC, SGLN, LOT = (
    "urn:epc:id:sscc:9506000.0000000052",
    "urn:epc:id:sgln:9506000.00001.0",
    "urn:epc:class:lgtin:9506000.013435.L1",
)
NAMESPACES = {"ex": "https://example.com/voc/", "dl": f"https://id.gs1.org/01/{GTIN}/21/"}


def dl(serial: str) -> str:
    return f"https://id.gs1.org/01/{GTIN}/21/{serial}"


def urn(serial: str) -> str:
    return f"urn:epc:id:sgtin:9506000.013435.{serial}"


def everywhere() -> dict[str, Any]:
    """An event naming items in every place an event can: EPC lists, parentID, ILMD, a source, a
    nested extension, a time-like extension key, a compact IRI; and things that are not items."""
    return {
        "type": "AggregationEvent",
        "action": "ADD",
        "bizStep": "packing",
        "eventID": "ni:///sha-256;00?ver=CBV2.0",
        "eventTime": "2026-01-05T09:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "recordTime": "2026-01-05T09:00:01Z",
        "parentID": urn(SERIALS[0]),
        "childEPCs": [dl(SERIALS[1]), urn(SERIALS[2]), f"https://brand.example/p/01/{GTIN}/21/{SERIALS[3]}", SSCC],
        "childQuantityList": [{"epcClass": LOT, "quantity": 2}],
        "readPoint": {"id": SGLN},
        "sourceList": [{"type": "owning_party", "source": dl(SERIALS[4])}],
        "ex:check": {"ex:against": [urn(SERIALS[5])], "ex:sampledTime": dl(SERIALS[6])},
        "ex:twin": f"dl:{SERIALS[7]}",
        "ex:note": "kept as written",
        "comment": f"written by hand: {SERIALS[0]}",
    }


def test_every_serialized_item_becomes_its_token_wherever_it_is() -> None:
    body = everywhere()
    assert {m.item.key for m in serialized_mentions(body, NAMESPACES) if m.item} == set(TOKENS)
    public = public_body(body, NAMESPACES, TOKENS)
    form = public_form(public, NAMESPACES)
    text = json.dumps(public) + form
    assert [s for s in SERIALS if s in text] == []  # not one serial, in any notation
    assert all(token in form for token in TOKENS.values())
    # What is not a serialized item stays: the container, the location, the lot, the business step.
    assert public["childQuantityList"] == body["childQuantityList"]
    assert SSCC in public["childEPCs"]
    assert public["readPoint"] == {"id": SGLN}
    assert "parentID=" + TOKENS[item_key(GTIN, SERIALS[0])] in form
    assert "https://id.gs1.org/00/095060000000000527" in form
    assert "https://id.gs1.org/414/9506000000015" in form
    # Nothing that never enters the hash is published (the eventID may be the CBV hash itself).
    assert {"eventID", "recordTime", "comment"}.isdisjoint(public)
    # The public form is the pre-hash string of the public body: the rules of the CBV hash.
    assert form == pre_hash_string(public, NAMESPACES, verbatim=TOKEN)


@given(st.permutations(SERIALS[1:5]), st.lists(st.sampled_from(["dl", "urn"]), min_size=4, max_size=4))
def test_order_and_notation_leak_nothing(order: list[str], notations: list[str]) -> None:
    """However the writer lists and writes its serials, the public body and form are the same."""
    written = [dl(s) if how == "dl" else urn(s) for s, how in zip(order, notations, strict=True)]
    body = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "eventTime": "2026-01-05T09:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [SSCC, *written],
    }
    reference = {**body, "epcList": [SSCC, *(dl(s) for s in SERIALS[1:5])]}
    assert public_body(body, {}, TOKENS) == public_body(reference, {}, TOKENS)
    assert public_body(body, {}, TOKENS)["epcList"] == sorted(
        [SSCC, *(TOKENS[item_key(GTIN, s)] for s in SERIALS[1:5])]
    )
    assert public_form(public_body(body, {}, TOKENS), {}) == public_form(public_body(reference, {}, TOKENS), {})


def test_what_has_no_token_is_never_published() -> None:
    cases = {
        "an item with no token (not registered)": dl("UNKNOWN-1"),
        "an ITIP piece": "urn:epc:id:itip:9506000.013435.01.02.SER-000X",
        "a UPUI": f"https://id.gs1.org/01/{GTIN}/235/TPX0001",
        "an SGTIN URN that is not valid": "urn:epc:id:sgtin:950600.13435.SER-000X",
        "an EPC URN in upper case": "URN:EPC:ID:SGTIN:9506000.013435.SER-000X",
    }
    for what, value in cases.items():
        body = {
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "eventTime": "2026-01-05T09:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "epcList": [SSCC],
            "ex:related": value,
        }
        found = serialized_mentions(body, NAMESPACES)
        assert [m.where for m in found] == ["ex:related"], what
        with pytest.raises(Unpublishable, match="ex:related"):
            public_body(body, NAMESPACES, TOKENS)
        # The migration's fallback: a random token, so that the serial still never shows.
        public = public_body(body, NAMESPACES, TOKENS, fallback=lambda _: "item:0x" + "ab" * 32)
        assert public["ex:related"] == "item:0x" + "ab" * 32, what


def test_tokens_are_copied_as_they_are_even_under_an_item_prefix() -> None:
    token = TOKENS[item_key(GTIN, SERIALS[1])]
    body = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "eventTime": "2026-01-05T09:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [dl(SERIALS[1])],
    }
    prefixes = {"item": "https://example.com/item/"}
    assert f"epcList epc={token}action".replace(" ", "") in public_form(public_body(body, prefixes, TOKENS), prefixes)


def test_the_asked_item_is_shown_in_clear_and_hashed_as_its_token() -> None:
    mine, sibling = SERIALS[1], SERIALS[2]
    public = public_body(everywhere(), NAMESPACES, TOKENS)
    shown = shown_body(public, TOKENS[item_key(GTIN, mine)], item_key(GTIN, mine))
    assert dl(mine) in shown["childEPCs"]
    assert sibling not in json.dumps(shown)
    # A verifier holding only its own token rebuilds the very same public body from what it is shown …
    assert public_body(shown, NAMESPACES, {item_key(GTIN, mine): TOKENS[item_key(GTIN, mine)]}) == public
    # … and a body that shows another item in clear is refused: it leaks a serial.
    leaking = {**shown, "childEPCs": [*shown["childEPCs"], dl(sibling)]}
    with pytest.raises(Unpublishable, match="childEPCs"):
        public_body(leaking, NAMESPACES, {item_key(GTIN, mine): TOKENS[item_key(GTIN, mine)]})


def test_an_event_without_items_is_its_own_public_form() -> None:
    body = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "epcList": [SSCC],
        "ex:n": "1.0",
        "eventTime": "2026-01-05T10:00:00+01:00",
        "eventTimeZoneOffset": "+01:00",
        "readPoint": {"id": SGLN},
    }
    assert serialized_mentions(body, NAMESPACES) == []
    form = public_form(public_body(body, NAMESPACES, {}), NAMESPACES)
    assert form == pre_hash_string(body, NAMESPACES)
    assert public_digest(form) == hash_digest(event_hash(body, NAMESPACES))  # what capture relies on


def test_what_is_anchored_binds_both_hashes_under_the_salt() -> None:
    cbv, public = hashlib.sha256(b"full event").digest(), hashlib.sha256(b"public form").digest()
    salt, other_salt = b"\x01" * 32, b"\x02" * 32
    commitment = cbv_commitment(salt, cbv)
    assert commitment == keccak(salt + cbv) != cbv_commitment(other_salt, cbv)
    assert anchored_value(commitment, public) == keccak(commitment + public)
    ni = f"ni:///sha-256;{cbv.hex()}?ver=CBV2.0"
    assert anchored_hash(ni, "0x" + salt.hex(), "0x" + public.hex()) == anchored_value(commitment, public)
    with pytest.raises(ValueError, match="32 bytes"):
        cbv_commitment(b"short", cbv)
