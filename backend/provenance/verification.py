"""Consumer verification of a serialized item: a verdict, the item's timeline (its EPCIS events
and those of the containers it travelled in), and proofs that anyone can check against the chain
without trusting this server: the item's registration, each event's anchor, and the recall.

Each event of the timeline is shown in its public form (epcis/public_form.py): every other
serialized item it names is replaced by that item's salted token, the item asked about is shown in
clear (whoever asks knows its serial). The step carries the public body, its pre-hash string and
the commitment to the event's CBV hash, so a third party recomputes the anchored value from what
is shown (docs/verification.md) and learns no serial but the one it asked about. Scan signals are
weighed by who stands behind them (scans.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from backend.db.models import (
    EpcisEventEpc,
    EpcisEventRecord,
    Item,
    ItemBatch,
    MirrorEventAnchor,
    MirrorItemBatch,
    MirrorRecall,
    Organisation,
    Product,
    RecallRecord,
)
from backend.provenance.digital_link import check_qualifier, parse_gtin
from backend.provenance.epcis.declarations import public_declaration
from backend.provenance.epcis.events import as_identifier, short_term
from backend.provenance.epcis.graph import Reach, journey, trace
from backend.provenance.epcis.hashing import hash_digest
from backend.provenance.epcis.identifiers import item_key, label
from backend.provenance.epcis.public_form import (
    anchored_value,
    cbv_commitment,
    is_token,
    item_token,
    public_form,
    shown_body,
)
from backend.provenance.items import find_item, tokens_of
from backend.provenance.merkle import event_leaf, item_leaf
from backend.provenance.passports import verification_facts as passport_facts
from backend.provenance.recalls import WHOLE_GTIN, RecallMatch, RecallNotice, recall_status
from backend.provenance.scans import ScanContext, assess_scans, record_scan, scan_count
from backend.settings import ProvenanceSettings

HOW_TO_VERIFY = (
    "Everything below can be checked on any node of this chain, without trusting this server: take the "
    "registry contract's address from a source you trust (its deployment manifest), never from this answer "
    "(`credance verify <this link> --manifest deployments/<chain id>.json` does it all). The item: recompute "
    "commitment = keccak256(abi.encode(salt, serial)) from the serial printed on the product, then "
    "isItemRegistered(gtin, commitment, root, merkle_proof) returns true only if it is in a batch its "
    "manufacturer registered. Each event is shown in its public form: every other item it names is replaced by "
    "its token item:0x<itemLeaf>, this item by its own token (compute it from the serial and salt and find it in "
    "the event); publicHash = sha256 of the public form (the CBV 2.0 pre-hash string of the body shown, with the "
    "tokens), anchored = keccak256(cbv_commitment, publicHash), and isEventAnchored(anchored, root, merkle_proof) "
    "returns true only if it was anchored; eventAnchors(root) names the organisation. Recalls: isItemRecalled(gtin, "
    "commitment, scope_root, merkle_proof) returns true only if the item's whole GTIN is recalled or a recall by "
    "the GTIN's own brand has it in its scope; RecallIssued logs (brandId is indexed) list every recall of a "
    "brand, and /v1/recalls/{recall_id}/scope the leaves of each scope, so you can check that no recall of this "
    "item was left out. The formulas are in docs/verification.md."
)
DECOMMISSIONING_STEPS = ("decommissioning", "destroying")
# A serialized item the answer must name but has no token for (only events written before capture
# refused unregistered items could name one): shown as this, never by its serial.
UNKNOWN_ITEM = "item:unregistered"


@dataclass(frozen=True)
class VerificationContext:
    chain_id: int
    registry_address: str
    as_of_block: int
    public_url: str
    confirmed_block: int | None = None
    view: str = "latest"  # "confirmed": registrations above confirmed_block are not counted yet


def _org_view(session: Session, org_id: str) -> dict[str, Any] | None:
    org = session.get(Organisation, org_id)
    return None if org is None else {"id": org.id, "name": org.name, "chain_id": org.chain_id}


def _timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


def _step_time(step: dict[str, Any]) -> float:
    """Steps in time order; a step not on chain yet (no time) last."""
    return float(step["time"]) if step.get("time") else float("inf")


def parse_link(raw_gtin: str, serial: str) -> tuple[str, str]:
    """The GTIN-14 and serial of a Digital Link path, or InvalidDigitalLink naming the problem."""
    return parse_gtin(raw_gtin), check_qualifier("21", serial)


def _timeline_records(session: Session, item: Item) -> list[tuple[EpcisEventRecord, Reach]]:
    """The item's own events and its containers' events while it was inside, oldest first."""
    reached = journey(session, item_key(item.gtin, item.serial))
    by_key = {r.key: r for r in reached}
    rows = session.exec(
        select(EpcisEventRecord, EpcisEventEpc.epc)
        .join(EpcisEventEpc, col(EpcisEventEpc.event_pk) == col(EpcisEventRecord.id))
        .where(col(EpcisEventEpc.epc).in_(list(by_key)))
        .order_by(col(EpcisEventRecord.event_time), col(EpcisEventRecord.id))
    ).all()
    found: dict[int, tuple[EpcisEventRecord, Reach]] = {}
    for record, epc in rows:
        reach = by_key[epc]
        inside = (reach.start is None or record.event_time >= reach.start) and (
            reach.end is None or record.event_time <= reach.end
        )
        assert record.id is not None
        if inside and (record.id not in found or reach.via == "self"):
            found[record.id] = (record, reach)
    return sorted(found.values(), key=lambda pair: (pair[0].event_time, pair[0].id or 0))


@dataclass(frozen=True)
class PublicNames:
    """How the answer about one item names identifiers: the item itself in clear (whoever asks
    knows it), any other serialized item by its token, anything else as it is."""

    own_key: str
    own_token: str
    tokens: dict[str, str]  # item key → token, for the other items the answer names outside bodies

    def of(self, key: str) -> str:
        if key == self.own_key or not as_identifier(key).is_item:
            return key
        return self.tokens.get(key, UNKNOWN_ITEM)

    def label(self, name: str) -> str:
        return "another serialized item" if is_token(name) or name == UNKNOWN_ITEM else label(name)


def _location(body: dict[str, Any]) -> str | None:
    place = body.get("bizLocation") or body.get("readPoint")
    return as_identifier(place["id"]).key if isinstance(place, dict) and isinstance(place.get("id"), str) else None


def _event_step(
    session: Session, record: EpcisEventRecord, reach: Reach, proofs: list[dict[str, Any]], names: PublicNames
) -> dict[str, Any]:
    """One timeline step: what the public body says, the public form, and its anchor proof. Every
    shown field comes from the body shown, so a verifier can hold one against the other."""
    anchor = session.get(MirrorEventAnchor, record.anchor_root) if record.anchor_root else None
    public, namespaces = json.loads(record.public_body), json.loads(record.namespaces)
    body = shown_body(public, names.own_token, names.own_key)
    location = _location(body)
    commitment = cbv_commitment(bytes.fromhex(record.event_salt[2:]), hash_digest(record.event_hash))
    container = None if reach.via == "self" else names.of(reach.key)
    step: dict[str, Any] = {
        "event": short_term(body.get("bizStep"), "BizStep-") or record.event_type,
        "event_type": record.event_type,
        "action": body.get("action"),
        "disposition": short_term(body.get("disposition"), "Disp-"),
        "time": _timestamp(record.event_time),
        "location": location,
        "organisation": _org_view(session, record.org_id),
        "location_label": label(location or "") or None,
        "via": None if container is None else f"in {names.label(container)}",
        "container": container,
        # Declared erroneous by its writer (EPCIS errorDeclaration): shown, no longer counted.
        "erroneous": public_declaration(record.error_declaration),
        "anchored": anchor is not None,
        "block_number": anchor.block_number if anchor else None,
        "transaction": anchor.tx_hash if anchor else None,
        "body": body,
        "namespaces": namespaces,
        "public_form": public_form(public, namespaces),
        "public_hash": record.public_hash,
        "cbv_commitment": "0x" + commitment.hex(),
    }
    if anchor is not None and record.anchor_proof is not None:
        anchored = anchored_value(commitment, bytes.fromhex(record.public_hash[2:]))
        proofs.append(
            {
                "method": "isEventAnchored(bytes32,bytes32,bytes32[])",
                "anchored": "0x" + anchored.hex(),
                "leaf": "0x" + event_leaf(anchored).hex(),
                "root": record.anchor_root,
                "merkle_proof": json.loads(record.anchor_proof),
                "transaction": anchor.tx_hash,
                "block_number": anchor.block_number,
                "organisation": _org_view(session, record.org_id),
            }
        )
    return step


def _on_chain_recall(session: Session, recall: RecallRecord, scope: str) -> MirrorRecall | None:
    brand = session.get(Organisation, recall.brand_id)
    return session.exec(
        select(MirrorRecall).where(
            MirrorRecall.gtin == recall.gtin,
            col(MirrorRecall.scope_root) == scope,
            MirrorRecall.brand_id == (brand.chain_id if brand else ""),
        )
    ).first()


def _recall_view(session: Session, item: Item, match: RecallMatch, public_url: str) -> dict[str, Any]:
    recall = match.recall
    scope = WHOLE_GTIN if recall.whole_gtin and recall.gtin == item.gtin and match.proof is None else recall.scope_root
    on_chain = _on_chain_recall(session, recall, scope)
    view: dict[str, Any] = {
        "gtin": recall.gtin,
        "reason": recall.reason,
        "lot": recall.lot,
        "whole_gtin": recall.whole_gtin,
        "via": match.via,
        "scope_root": scope,
        "recall_id": on_chain.recall_id if on_chain else None,
        "brand": _org_view(session, recall.brand_id),
        "transaction": on_chain.tx_hash if on_chain else None,
        "block_number": on_chain.block_number if on_chain else None,
        "time": on_chain.block_time if on_chain else None,
    }
    if on_chain is not None and scope != WHOLE_GTIN:
        view["scope"] = f"{public_url}/v1/recalls/{on_chain.recall_id}/scope"
    if scope == WHOLE_GTIN:
        view["method"] = "isGtinRecalled(uint64)"
    elif match.proof is not None:
        view.update(
            method="isItemRecalled(uint64,bytes32,bytes32,bytes32[])",
            merkle_proof=match.proof,
            leaf="0x" + item_leaf(int(item.gtin), bytes.fromhex(item.commitment[2:])).hex(),
        )
    return view


def _notice_view(session: Session, notice: RecallNotice) -> dict[str, Any]:
    """Another brand's recall this item is linked to: shown, but it does not recall this item."""
    recall = notice.recall
    on_chain = _on_chain_recall(session, recall, recall.scope_root)
    return {
        "relation": notice.relation,
        "detail": notice.detail,
        "gtin": recall.gtin,
        "reason": recall.reason,
        "brand": _org_view(session, recall.brand_id),
        "recall_id": on_chain.recall_id if on_chain else None,
        "transaction": on_chain.tx_hash if on_chain else None,
        "block_number": on_chain.block_number if on_chain else None,
    }


@dataclass(frozen=True)
class ScanBasis:
    """What recording and judging the item's scans needs from the rest of the answer."""

    item_id: int
    sold_at: datetime | None
    decommissioned_at: datetime | None
    judged: bool  # the verdict rests on the scans: registered on chain and not recalled


@dataclass(frozen=True)
class StaticVerification:
    """The answer about one item without what its scans say: everything that changes only when the
    provenance data does (events captured, anchors, recalls, registrations; see answers.py). With
    ``basis``, the item is registered and ``with_scans`` completes the answer; without, ``result``
    is the whole answer (an unknown GTIN or serial: nothing is recorded)."""

    result: dict[str, Any]
    basis: ScanBasis | None


def static_verification(session: Session, raw_gtin: str, serial: str, ctx: VerificationContext) -> StaticVerification:
    """The verdict on one item, but for its scans (``with_scans`` adds them)."""
    gtin, serial = parse_link(raw_gtin, serial)
    result: dict[str, Any] = {
        "gtin": gtin,
        "serial": serial,
        "digital_link": f"{ctx.public_url}/01/{gtin}/21/{serial}",
        "as_of_block": ctx.as_of_block,
        "product": None,
        "trail": [],
        "proof": None,
        "reasons": [],
        "confirmed_block": ctx.confirmed_block if ctx.confirmed_block is not None else ctx.as_of_block,
        "view": ctx.view,
        "scan_signals": None,
        "recall_notices": [],
    }
    product = session.get(Product, gtin)
    if product is None:
        why = "This GTIN is not registered by any brand."
        return StaticVerification({**result, "verdict": "unknown", "reason": why}, None)
    result["product"] = {
        "gtin": gtin,
        "name": product.name,
        "description": product.description,
        "brand": _org_view(session, product.brand_id),
    }
    item = find_item(session, gtin, serial)
    if item is None:
        why = "No item with this serial was registered for this product."
        return StaticVerification({**result, "verdict": "unknown", "reason": why}, None)
    assert item.id is not None

    batch = session.get(ItemBatch, item.batch_root)
    anchored = session.get(MirrorItemBatch, item.batch_root)
    if anchored is not None and anchored.block_number > ctx.as_of_block:
        anchored = None  # mirrored above the block this view stands on (e.g. not confirmed yet)
    result["item"] = {"status": item.status, "lot": item.lot, "scans": None}  # the count: with_scans
    trail: list[dict[str, Any]] = []
    event_proofs: list[dict[str, Any]] = []
    if anchored is not None:
        trail.append(
            {
                "event": "registered",
                "organisation": _org_view(session, batch.manufacturer_id) if batch else None,
                "time": anchored.block_time,
                "block_number": anchored.block_number,
                "transaction": anchored.tx_hash,
            }
        )
        result["proof"] = {
            "chain_id": ctx.chain_id,
            "contract": ctx.registry_address,
            "method": "isItemRegistered(uint64,bytes32,bytes32,bytes32[])",
            "gtin": int(gtin),
            "serial": serial,
            "salt": item.salt,
            "commitment": item.commitment,
            "leaf": "0x" + item_leaf(int(gtin), bytes.fromhex(item.commitment[2:])).hex(),
            "root": item.batch_root,
            "merkle_proof": json.loads(item.proof),
            "transaction": anchored.tx_hash,
            "block_number": anchored.block_number,
            "events": event_proofs,
            "recall": None,
            "how_to_verify": HOW_TO_VERIFY,
        }
    sold_at = decommissioned_at = None
    records = _timeline_records(session, item)
    made_from = [r.key for r in trace(session, item_key(gtin, serial), "backward") if r.via == "input"]
    others = tokens_of(session, {reach.key for _, reach in records} | set(made_from))  # containers, inputs
    names = PublicNames(item_key(gtin, serial), item_token(gtin, bytes.fromhex(item.commitment[2:])), others)
    for record, reach in records:
        trail.append(_event_step(session, record, reach, event_proofs, names))
        if reach.via == "self" and record.biz_step == "retail_selling" and sold_at is None:
            sold_at = record.event_time
        deleted = record.event_type == "ObjectEvent" and record.action == "DELETE"
        if reach.via == "self" and (record.biz_step in DECOMMISSIONING_STEPS or deleted):
            decommissioned_at = record.event_time
    if made_from:
        result["item"]["made_from"] = [names.of(key) for key in made_from]
    passport = passport_facts(session, item, ctx.as_of_block)
    if passport is not None:
        result["passport"] = passport
    result["trail"] = trail  # sorted by time below, once the recall (if any) is in

    status = recall_status(session, item)
    result["recall_notices"] = [_notice_view(session, n) for n in status.notices]
    match = status.match
    if match is not None:
        recall = _recall_view(session, item, match, ctx.public_url)
        if result["proof"] is not None:
            result["proof"]["recall"] = recall
        trail.append(
            {
                "event": "recalled",
                "reason": recall["reason"] + (f" ({match.via})" if match.via else ""),
                "organisation": _org_view(session, match.recall.brand_id),
                "time": recall["time"],
                "block_number": recall["block_number"],
                "transaction": recall["transaction"],
            }
        )
        trail.sort(key=_step_time)
        why = f"Recalled by the brand: {match.recall.reason}" + (f" — {match.via}" if match.via else "")
        return StaticVerification(
            {**result, "verdict": "recalled", "reason": why, "reasons": [why]},
            ScanBasis(item.id, sold_at, decommissioned_at, judged=False),
        )
    trail.sort(key=_step_time)
    if anchored is None:
        why = "This item's registration is not on chain yet."
        return StaticVerification(
            {**result, "verdict": "unknown", "reason": why},
            ScanBasis(item.id, sold_at, decommissioned_at, judged=False),
        )
    return StaticVerification(result, ScanBasis(item.id, sold_at, decommissioned_at, judged=True))


def with_scans(
    static: StaticVerification, total: int, signals: dict[str, Any] | None, hard: list[str]
) -> dict[str, Any]:
    """The whole answer: ``static`` with the item's scan count and, when its verdict rests on them,
    what its scans say (``signals``: ``ScanAssessment.view()``; ``hard``: its hard reasons)."""
    result = dict(static.result)
    if static.basis is None:
        return result
    result["item"] = {**result["item"], "scans": total}
    if not static.basis.judged:
        return result
    result["scan_signals"] = signals
    if hard:
        return {**result, "verdict": "suspicious", "reason": f"This serial is suspicious: {hard[0]}.", "reasons": hard}
    return {**result, "verdict": "authentic", "reason": "Registered on chain by an authorised manufacturer."}


def verify_item(
    session: Session,
    raw_gtin: str,
    serial: str,
    ctx: VerificationContext,
    settings: ProvenanceSettings,
    scan: ScanContext | None = None,
) -> dict[str, Any]:
    """The verdict on one item, in one session. With ``scan``, the resolution is recorded as a scan
    (``session`` must then be a write session). The API answers the same through answers.py (cached
    by provenance version, scans recorded in batches); this is the reference it is tested against."""
    static = static_verification(session, raw_gtin, serial, ctx)
    basis = static.basis
    if basis is None:
        return static.result
    item = session.get(Item, basis.item_id)
    assert item is not None
    if scan is not None:
        record_scan(session, item, scan)
    if not basis.judged:
        return with_scans(static, scan_count(session, item), None, [])
    scans = assess_scans(session, item, settings, basis.sold_at, basis.decommissioned_at)
    return with_scans(static, scans.total, scans.view(), scans.hard_reasons)
