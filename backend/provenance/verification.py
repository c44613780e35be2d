"""Consumer verification of a serialized item: a verdict, the item's timeline (its EPCIS events
and those of the containers it travelled in), and proofs that anyone can check against the chain
without trusting this server: the item's registration, each event's anchor, and the recall.

Each event of the timeline carries its body (the fields its hash covers) and its canonical
pre-hash string, so a third party recomputes the anchored hash from the event shown
(docs/verification.md). Scan signals are weighed by who stands behind them (scans.py)."""

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
from backend.errors import DomainError
from backend.provenance.epcis.graph import Reach, journey, trace
from backend.provenance.epcis.hashing import IGNORED, hash_digest, pre_hash_string
from backend.provenance.epcis.identifiers import item_key, label
from backend.provenance.gtin import InvalidGtin, normalise_gtin
from backend.provenance.items import SERIAL_PATTERN, find_item
from backend.provenance.merkle import event_leaf, item_leaf
from backend.provenance.recalls import WHOLE_GTIN, RecallMatch, RecallNotice, recall_status
from backend.provenance.scans import ScanContext, assess_scans, record_scan, scan_count
from backend.provenance.settings import ProvenanceSettings

HOW_TO_VERIFY = (
    "Everything below can be checked on any node of this chain, without trusting this server: take the "
    "registry contract's address from a source you trust (its deployment manifest), never from this answer "
    "(`credance verify <this link> --manifest deployments/<chain id>.json` does it all). The item: recompute "
    "commitment = keccak256(abi.encode(salt, serial)) from the serial printed on the product, then "
    "isItemRegistered(gtin, commitment, root, merkle_proof) returns true only if it is in a batch its "
    "manufacturer registered. Each event: sha256 of its canonical pre-hash string (CBV 2.0, recomputed from "
    "the event body shown) is the event hash; isEventAnchored(event_hash, root, merkle_proof) returns true only "
    "if it was anchored, and eventAnchors(root) names the organisation. Recalls: isItemRecalled(gtin, "
    "commitment, scope_root, merkle_proof) returns true only if the item's whole GTIN is recalled or a recall by "
    "the GTIN's own brand has it in its scope; RecallIssued logs (brandId is indexed) list every recall of a "
    "brand, and /v1/recalls/{recall_id}/scope the leaves of each scope, so you can check that no recall of this "
    "item was left out. The formulas are in docs/verification.md."
)
# Fields a published event body leaves out: none of them enters the event hash, and they may hold
# a writer's internal notes (comments, error declarations) or when our server recorded it.
UNPUBLISHED = IGNORED & {"recordTime", "errorDeclaration", "rdfs:comment", "comment"}
DECOMMISSIONING_STEPS = ("decommissioning", "destroying")


class InvalidDigitalLink(DomainError):
    status = 400
    code = "invalid_digital_link"


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
    try:
        gtin = normalise_gtin(raw_gtin)
    except InvalidGtin as exc:
        raise InvalidDigitalLink(str(exc), field="gtin") from exc
    if not SERIAL_PATTERN.match(serial):
        raise InvalidDigitalLink(f"serial {serial!r} is not a GS1 serial (1-20 characters)", field="serial")
    return gtin, serial


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


def published_body(record: EpcisEventRecord) -> tuple[dict[str, Any], dict[str, str]]:
    """The event as the public answer shows it (every field its hash covers) and its namespaces."""
    body = {k: v for k, v in json.loads(record.body).items() if k not in UNPUBLISHED}
    return body, json.loads(record.namespaces)


def _event_step(
    session: Session, record: EpcisEventRecord, reach: Reach, proofs: list[dict[str, Any]]
) -> dict[str, Any]:
    anchor = session.get(MirrorEventAnchor, record.anchor_root) if record.anchor_root else None
    body, namespaces = published_body(record)
    step: dict[str, Any] = {
        "event": record.biz_step or record.event_type, "event_type": record.event_type, "action": record.action,
        "disposition": record.disposition, "time": _timestamp(record.event_time),
        "location": record.biz_location or record.read_point, "organisation": _org_view(session, record.org_id),
        "location_label": label(record.biz_location or record.read_point or "") or None,
        "event_id": record.event_id, "event_hash": record.event_hash,
        "via": None if reach.via == "self" else f"in {label(reach.key)}",
        "container": None if reach.via == "self" else reach.key,
        "anchored": anchor is not None,
        "block_number": anchor.block_number if anchor else None, "transaction": anchor.tx_hash if anchor else None,
        "body": body, "namespaces": namespaces, "canonical": pre_hash_string(body, namespaces),
    }  # fmt: skip
    if anchor is not None and record.anchor_proof is not None:
        digest = hash_digest(record.event_hash)
        proofs.append({
            "event_id": record.event_id, "method": "isEventAnchored(bytes32,bytes32,bytes32[])",
            "event_hash": "0x" + digest.hex(), "leaf": "0x" + event_leaf(digest).hex(), "root": record.anchor_root,
            "merkle_proof": json.loads(record.anchor_proof), "transaction": anchor.tx_hash,
            "block_number": anchor.block_number, "organisation": _org_view(session, record.org_id),
        })  # fmt: skip
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
        "gtin": recall.gtin, "reason": recall.reason, "lot": recall.lot, "whole_gtin": recall.whole_gtin,
        "via": match.via, "scope_root": scope, "recall_id": on_chain.recall_id if on_chain else None,
        "brand": _org_view(session, recall.brand_id), "transaction": on_chain.tx_hash if on_chain else None,
        "block_number": on_chain.block_number if on_chain else None,
        "time": on_chain.block_time if on_chain else None,
    }  # fmt: skip
    if on_chain is not None and scope != WHOLE_GTIN:
        view["scope"] = f"{public_url}/v1/recalls/{on_chain.recall_id}/scope"
    if scope == WHOLE_GTIN:
        view["method"] = "isGtinRecalled(uint64)"
    elif match.proof is not None:
        view.update(method="isItemRecalled(uint64,bytes32,bytes32,bytes32[])", merkle_proof=match.proof,
                    leaf="0x" + item_leaf(int(item.gtin), bytes.fromhex(item.commitment[2:])).hex())  # fmt: skip
    return view


def _notice_view(session: Session, notice: RecallNotice) -> dict[str, Any]:
    """Another brand's recall this item is linked to: shown, but it does not recall this item."""
    recall = notice.recall
    on_chain = _on_chain_recall(session, recall, recall.scope_root)
    return {
        "relation": notice.relation, "detail": notice.detail, "gtin": recall.gtin, "reason": recall.reason,
        "brand": _org_view(session, recall.brand_id), "recall_id": on_chain.recall_id if on_chain else None,
        "transaction": on_chain.tx_hash if on_chain else None,
        "block_number": on_chain.block_number if on_chain else None,
    }  # fmt: skip


def verify_item(
    session: Session,
    raw_gtin: str,
    serial: str,
    ctx: VerificationContext,
    settings: ProvenanceSettings,
    scan: ScanContext | None = None,
) -> dict[str, Any]:
    """The verdict on one item. With ``scan``, the resolution is recorded as a scan (``session``
    must then be a write session)."""
    gtin, serial = parse_link(raw_gtin, serial)
    result: dict[str, Any] = {
        "gtin": gtin, "serial": serial, "digital_link": f"{ctx.public_url}/01/{gtin}/21/{serial}",
        "as_of_block": ctx.as_of_block, "product": None, "trail": [], "proof": None, "reasons": [],
        "confirmed_block": ctx.confirmed_block if ctx.confirmed_block is not None else ctx.as_of_block,
        "view": ctx.view, "scan_signals": None, "recall_notices": [],
    }  # fmt: skip
    product = session.get(Product, gtin)
    if product is None:
        return {**result, "verdict": "unknown", "reason": "This GTIN is not registered by any brand."}
    result["product"] = {
        "gtin": gtin, "name": product.name, "description": product.description,
        "brand": _org_view(session, product.brand_id),
    }  # fmt: skip
    item = find_item(session, gtin, serial)
    if item is None:
        return {**result, "verdict": "unknown", "reason": "No item with this serial was registered for this product."}
    if scan is not None:
        record_scan(session, item, scan)

    batch = session.get(ItemBatch, item.batch_root)
    anchored = session.get(MirrorItemBatch, item.batch_root)
    if anchored is not None and anchored.block_number > ctx.as_of_block:
        anchored = None  # mirrored above the block this view stands on (e.g. not confirmed yet)
    result["item"] = {"status": item.status, "lot": item.lot, "scans": scan_count(session, item)}
    trail: list[dict[str, Any]] = []
    event_proofs: list[dict[str, Any]] = []
    if anchored is not None:
        trail.append({
            "event": "registered", "organisation": _org_view(session, batch.manufacturer_id) if batch else None,
            "time": anchored.block_time, "block_number": anchored.block_number, "transaction": anchored.tx_hash,
        })  # fmt: skip
        result["proof"] = {
            "chain_id": ctx.chain_id, "contract": ctx.registry_address,
            "method": "isItemRegistered(uint64,bytes32,bytes32,bytes32[])", "gtin": int(gtin), "serial": serial,
            "salt": item.salt, "commitment": item.commitment,
            "leaf": "0x" + item_leaf(int(gtin), bytes.fromhex(item.commitment[2:])).hex(),
            "root": item.batch_root, "merkle_proof": json.loads(item.proof),
            "transaction": anchored.tx_hash, "block_number": anchored.block_number,
            "events": event_proofs, "recall": None, "how_to_verify": HOW_TO_VERIFY,
        }  # fmt: skip
    sold_at = decommissioned_at = None
    for record, reach in _timeline_records(session, item):
        trail.append(_event_step(session, record, reach, event_proofs))
        if reach.via == "self" and record.biz_step == "retail_selling" and sold_at is None:
            sold_at = record.event_time
        deleted = record.event_type == "ObjectEvent" and record.action == "DELETE"
        if reach.via == "self" and (record.biz_step in DECOMMISSIONING_STEPS or deleted):
            decommissioned_at = record.event_time
    made_from = [r.key for r in trace(session, item_key(gtin, serial), "backward") if r.via == "input"]
    if made_from:
        result["item"]["made_from"] = made_from
    result["trail"] = trail  # sorted by time below, once the recall (if any) is in

    status = recall_status(session, item)
    result["recall_notices"] = [_notice_view(session, n) for n in status.notices]
    match = status.match
    if match is not None:
        recall = _recall_view(session, item, match, ctx.public_url)
        if result["proof"] is not None:
            result["proof"]["recall"] = recall
        trail.append({
            "event": "recalled", "reason": recall["reason"] + (f" ({match.via})" if match.via else ""),
            "organisation": _org_view(session, match.recall.brand_id), "time": recall["time"],
            "block_number": recall["block_number"], "transaction": recall["transaction"],
        })  # fmt: skip
        trail.sort(key=_step_time)
        why = f"Recalled by the brand: {match.recall.reason}" + (f" — {match.via}" if match.via else "")
        return {**result, "verdict": "recalled", "reason": why, "reasons": [why]}
    trail.sort(key=_step_time)
    if anchored is None:
        return {**result, "verdict": "unknown", "reason": "This item's registration is not on chain yet."}
    scans = assess_scans(session, item, settings, sold_at, decommissioned_at)
    result["scan_signals"] = scans.view()
    hard = scans.hard_reasons
    if hard:
        return {**result, "verdict": "suspicious", "reason": f"This serial is suspicious: {hard[0]}.",
                "reasons": hard}  # fmt: skip
    return {**result, "verdict": "authentic", "reason": "Registered on chain by an authorised manufacturer."}
