"""Consumer verification of a serialized item: a verdict, the item's on-chain trail, and a proof
that anyone can check against the chain without trusting this server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from backend.db.models import (
    ItemBatch,
    MirrorItemBatch,
    MirrorRecall,
    Organisation,
    Product,
)
from backend.errors import DomainError
from backend.provenance.gtin import InvalidGtin, normalise_gtin
from backend.provenance.items import SERIAL_PATTERN, find_item
from backend.provenance.merkle import item_leaf
from backend.provenance.recalls import recall_for

HOW_TO_VERIFY = (
    "Call isItemRegistered(gtin, commitment, root, merkle_proof) on the registry contract at any "
    "node of this chain (e.g. `credance verify` or `cast call`); it returns true only if this "
    "item's salted commitment is in a batch its manufacturer registered. The commitment is "
    "keccak256(abi.encode(salt, serial)), so you can recompute it from the serial on the product."
)


class InvalidDigitalLink(DomainError):
    status = 400
    code = "invalid_digital_link"


@dataclass(frozen=True)
class VerificationContext:
    chain_id: int
    registry_address: str
    as_of_block: int
    public_url: str


def _org_view(session: Session, org_id: str) -> dict[str, Any] | None:
    org = session.get(Organisation, org_id)
    return None if org is None else {"id": org.id, "name": org.name, "chain_id": org.chain_id}


def verify_item(session: Session, raw_gtin: str, serial: str, ctx: VerificationContext) -> dict[str, Any]:
    try:
        gtin = normalise_gtin(raw_gtin)
    except InvalidGtin as exc:
        raise InvalidDigitalLink(str(exc), field="gtin") from exc
    if not SERIAL_PATTERN.match(serial):
        raise InvalidDigitalLink(f"serial {serial!r} is not a GS1 serial (1-20 characters)", field="serial")

    result: dict[str, Any] = {
        "gtin": gtin,
        "serial": serial,
        "digital_link": f"{ctx.public_url}/01/{gtin}/21/{serial}",
        "as_of_block": ctx.as_of_block,
        "product": None,
        "trail": [],
        "proof": None,
    }
    product = session.get(Product, gtin)
    if product is None:
        return {**result, "verdict": "unknown", "reason": "This GTIN is not registered by any brand."}
    result["product"] = {
        "gtin": gtin, "name": product.name, "description": product.description,
        "brand": _org_view(session, product.brand_id),
    }  # fmt: skip
    item = find_item(session, gtin, serial)
    if item is None:
        return {
            **result,
            "verdict": "unknown",
            "reason": "No item with this serial was registered for this product.",
        }

    batch = session.get(ItemBatch, item.batch_root)
    anchored = session.get(MirrorItemBatch, item.batch_root)
    result["item"] = {"status": item.status, "lot": item.lot}
    if anchored is not None:
        result["trail"].append({
            "event": "registered", "organisation": _org_view(session, batch.manufacturer_id) if batch else None,
            "time": anchored.block_time, "block_number": anchored.block_number, "transaction": anchored.tx_hash,
        })  # fmt: skip
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
            "how_to_verify": HOW_TO_VERIFY,
        }

    recall = recall_for(session, item)
    if recall is not None:
        on_chain = session.exec(
            select(MirrorRecall).where(MirrorRecall.gtin == gtin, col(MirrorRecall.scope_root) == recall.scope_root)
        ).first()
        result["trail"].append({
            "event": "recalled", "reason": recall.reason, "organisation": _org_view(session, recall.brand_id),
            "time": on_chain.block_time if on_chain else None,
            "block_number": on_chain.block_number if on_chain else None,
            "transaction": on_chain.tx_hash if on_chain else None,
        })  # fmt: skip
        return {**result, "verdict": "recalled", "reason": f"Recalled by the brand: {recall.reason}"}
    if anchored is None:
        return {**result, "verdict": "unknown", "reason": "This item's registration is not on chain yet."}
    return {**result, "verdict": "authentic", "reason": "Registered on chain by an authorised manufacturer."}
