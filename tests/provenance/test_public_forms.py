"""Events are stored with their public form (every serialized item as its token), its hash and a
secret salt; capture refuses what could only be published in clear; a party that may read an event
gets its salt and checks the full event against what is anchored, and nobody else does."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from eth_utils import keccak
from sqlmodel import Session, col, select

from backend.db.engine import session_scope
from backend.db.models import EpcisEventRecord, Item
from backend.provenance.epcis.anchoring import seal_due
from backend.provenance.epcis.capture import capture_prepared, prepare_document, with_public_forms
from backend.provenance.epcis.hashing import event_hash, hash_digest, namespaces_of
from backend.provenance.epcis.identifiers import item_key
from backend.provenance.epcis.public_form import anchored_hash, item_token, public_form
from backend.provenance.merkle import event_leaf, verify
from backend.provenance.organisations import get_organisation
from backend.settings import get_settings
from tests.provenance.support import FRESH, Api, at, commission, document, event, pack, sgtin
from tests.provenance.test_epcis_capture import rejected

CASE = "urn:epc:id:sscc:9506000.0000000070"
PREFIXES = {"ex": "https://example.com/voc/"}
SERIALS = ("SN0001", "SN0002", "SN0003")


def urn(serial: str) -> str:
    return f"urn:epc:id:sgtin:9506000.013437.{serial}"  # FRESH, 09506000134376


def tokens(api: Api) -> dict[str, str]:
    with Session(api.engine) as session:
        items = session.exec(select(Item).where(Item.gtin == FRESH)).all()
    return {i.serial: item_token(FRESH, bytes.fromhex(i.commitment[2:])) for i in items}


def latest(api: Api, count: int) -> list[EpcisEventRecord]:
    with Session(api.engine) as session:
        rows = session.exec(select(EpcisEventRecord).order_by(col(EpcisEventRecord.id).desc()).limit(count)).all()
    return list(reversed(rows))


def test_events_are_stored_with_a_public_form_that_names_no_serial(api: Api) -> None:
    items = [sgtin(FRESH, s) for s in SERIALS]
    inspected = event(
        "ObjectEvent", at(2), bizStep="inspecting", epcList=[items[0]], **{"ex:comparedWith": urn("SN0002")}
    )
    response = api.capture(
        "demo-brand", document(commission(items, at(0)), pack(CASE, items, at(1)), inspected, prefixes=PREFIXES)
    )
    assert response.status_code == 201, response.text
    known = tokens(api)
    salts = set()
    for record in latest(api, 3):
        public, namespaces = json.loads(record.public_body), json.loads(record.namespaces)
        assert not any(serial in record.public_body for serial in SERIALS), record.public_body
        assert hashlib.sha256(public_form(public, namespaces).encode()).hexdigest() == record.public_hash[2:]
        assert len(bytes.fromhex(record.event_salt[2:])) == 32
        salts.add(record.event_salt)
        assert hash_digest(record.event_hash) != bytes.fromhex(record.public_hash[2:])  # it names items
    commissioned, packed, compared = (json.loads(r.public_body) for r in latest(api, 3))
    assert commissioned["epcList"] == sorted(known[s] for s in SERIALS)  # listed in token order, not serial order
    assert packed["childEPCs"] == sorted(known[s] for s in SERIALS)
    assert packed["parentID"] == CASE  # a container is not a serialized item: it stays
    assert compared["ex:comparedWith"] == known["SN0002"]  # an extension naming a case-mate
    assert len(salts) == 3


def test_what_could_only_be_published_in_clear_is_refused(api: Api) -> None:
    one = sgtin(FRESH, "SN0001")
    unregistered = event("ObjectEvent", at(1), epcList=[one], **{"ex:replaces": sgtin(FRESH, "NOT-REGISTERED")})
    problems = rejected(api, "demo-brand", document(unregistered, prefixes=PREFIXES), 422)
    assert [(p["field"], p["rule"]) for p in problems] == [("epcisBody.eventList[0]", "unknown_item")]
    assert "ex:replaces" in problems[0]["message"]
    assert "public form" in problems[0]["message"]
    pieces = {
        "an ITIP piece": event("ObjectEvent", at(1), epcList=["urn:epc:id:itip:9506000.013437.01.02.SN0001"]),
        "a UPUI": event("ObjectEvent", at(1), epcList=[one], **{"ex:pack": f"https://id.gs1.org/01/{FRESH}/235/TPX1"}),
        "a broken SGTIN": event("ObjectEvent", at(1), epcList=[one], **{"ex:was": "urn:epc:id:sgtin:95060.1.SN0001"}),
    }
    for what, body in pieces.items():
        problems = rejected(api, "demo-brand", document(body, prefixes=PREFIXES), 422)
        assert [(p["field"], p["rule"]) for p in problems] == [("epcisBody.eventList[0]", "unpublishable_identifier")]
        assert "published in clear" in problems[0]["message"], what


def anchor_of(api: Api, who: str | None, event_hash_: str) -> Any:
    headers = api.headers(who) if who else {}
    return api.client.get("/v1/epcis/event-anchor", params={"event_hash": event_hash_}, headers=headers)


def test_a_party_that_may_read_the_event_checks_the_full_event(api: Api) -> None:
    items = [sgtin(FRESH, s) for s in SERIALS]
    api.accept("demo-brand", commission(items, at(0)), pack(CASE, items, at(1)))
    # The brand holds the full event (its export), recomputes its CBV hash, and gets the salt.
    exported = api.events("demo-brand", epc=CASE)
    full = exported["epcisBody"]["eventList"][0]
    cbv = event_hash(full, namespaces_of(exported["@context"]))
    answer = anchor_of(api, "demo-brand", cbv)
    assert answer.status_code == 200, answer.text
    anchor = answer.json()
    digest = bytes.fromhex(anchor["cbv_digest"][2:])
    assert anchor["event_hash"] == cbv == f"ni:///sha-256;{digest.hex()}?ver=CBV2.0"
    commitment = keccak(bytes.fromhex(anchor["event_salt"][2:]) + digest)
    assert anchor["cbv_commitment"] == "0x" + commitment.hex()
    public = hashlib.sha256(anchor["public_form"].encode()).digest()
    assert anchor["public_hash"] == "0x" + public.hex()
    assert anchor["public_form"] == public_form(anchor["public_body"], anchor["namespaces"])
    assert anchor["anchored"] == "0x" + keccak(commitment + public).hex()
    assert anchor["root"] is None
    assert anchor["transaction"] is None
    assert anchor_of(api, "admin", digest.hex()).json()["anchored"] == anchor["anchored"]  # the bare digest works too

    with Session(api.engine) as session:
        seal_due(session, batch_size=256, max_delay_ms=0, force=True)
        session.commit()
    sealed = anchor_of(api, "demo-brand", cbv).json()
    leaf = event_leaf(bytes.fromhex(sealed["anchored"][2:]))
    assert verify([bytes.fromhex(p[2:]) for p in sealed["merkle_proof"]], bytes.fromhex(sealed["root"][2:]), leaf)
    with Session(api.engine) as session:
        record = session.exec(select(EpcisEventRecord).where(EpcisEventRecord.event_hash == cbv)).one()
    assert anchored_hash(record.event_hash, record.event_salt, record.public_hash).hex() == sealed["anchored"][2:]

    # A partner the brand authorised may read its events, so it gets the salt; an organisation that
    # may not read the event learns nothing (not even that it exists); nobody anonymous.
    api.organisation("haulier", ["distributor"])
    api.partner("demo-brand", "haulier", ["distributor"])
    assert anchor_of(api, "haulier", cbv).status_code == 200
    api.organisation("stranger", ["distributor"])
    refused = anchor_of(api, "stranger", cbv)
    assert refused.status_code == 404
    assert refused.json()["error"]["field"] == "event_hash"
    assert "event_salt" not in refused.text
    assert anchor_of(api, None, cbv).status_code == 401
    assert anchor_of(api, "demo-brand", "ni:///sha-256;xyz").status_code == 422
    assert item_key(FRESH, "SN0001") in json.dumps(full)  # the brand's own export keeps its serials


def test_public_forms_made_before_the_write_transaction_are_kept_only_if_the_tokens_still_match(api: Api) -> None:
    """``capture_in`` rewrites the events for the public from a read transaction, before it takes
    the write lock; the write transaction keeps that work only where each item it names has the
    same token (an item registered in between has one now and had none then)."""
    items = [sgtin(FRESH, s) for s in SERIALS]
    api.capture("demo-brand", document(commission(items, at(0))))
    stale = {"public_body": "{}", "public_hash": "0x" + "00" * 32, "event_salt": "0x" + "11" * 32}
    for n, changed_token in enumerate((False, True)):
        shipped = document(event("ObjectEvent", at(10 + n), bizStep="shipping", epcList=[items[n]]))
        prepared = prepare_document(shipped, get_settings())
        with session_scope(api.engine, write=False) as session:
            prepared = with_public_forms(session, prepared)
        assert prepared.publics is not None
        assert prepared.tokens is not None
        # Made earlier: the write transaction cannot tell these columns from the real ones…
        (only,) = prepared.events
        tokens = dict(prepared.tokens)
        if changed_token:  # …but it sees that the item's token is not the one they were made with
            tokens[item_key(FRESH, SERIALS[n])] = "another token"
        prepared = replace(prepared, publics={id(only): stale}, tokens=tokens)
        with session_scope(api.engine) as session:
            capture_prepared(session, get_organisation(session, "demo-brand"), prepared)
        (record,) = latest(api, 1)
        assert (record.public_hash == stale["public_hash"]) is not changed_token
