"""Recalls: a brand recalls a whole GTIN, a lot or a set of serials. The recall reaches every
item made from them (transformation) or packed with them (aggregation), as the event history
shows at the time of the recall; the items reached are committed on chain as one Merkle scope
root, each keeping its inclusion proof. Items that the history links to a recalled one later
are found at verification time (:func:`recall_for`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote

from eth_utils import keccak
from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from backend.db.models import Item, Operation, Organisation, RecalledItem, RecallRecord
from backend.errors import Conflict, Forbidden, NotFound, Unprocessable
from backend.provenance.epcis.graph import downstream, sources
from backend.provenance.epcis.identifiers import item_key
from backend.provenance.merkle import MerkleTree, item_leaf
from backend.provenance.products import get_product, product_operation

WHOLE_GTIN = "0x" + "00" * 32
_KEY_PREFIX = "https://id.gs1.org/01/"


@dataclass(frozen=True)
class RecallMatch:
    """Why an item is recalled: the recall, and how the item is linked to what was recalled."""

    recall: RecallRecord
    via: str | None = None  # None: the item itself is in the recall's scope
    proof: list[str] | None = None  # its Merkle proof in the scope root, if it is in the scope


def _items_of_keys(session: Session, keys: set[str]) -> list[Item]:
    pairs = []
    for key in keys:
        if key.startswith(_KEY_PREFIX) and "/21/" in key:
            gtin, _, serial = key[len(_KEY_PREFIX) :].partition("/21/")
            pairs.append((gtin, unquote(serial)))
    items: list[Item] = []
    for start in range(0, len(pairs), 500):
        chunk = pairs[start : start + 500]
        items.extend(session.exec(select(Item).where(tuple_(Item.gtin, Item.serial).in_(chunk))).all())
    return items


def issue_recall(
    session: Session,
    brand: Organisation,
    gtin: str,
    reason: str,
    serials: list[str] | None = None,
    lot: str | None = None,
) -> RecallRecord:
    product = get_product(session, gtin)
    if product.brand_id != brand.id:
        raise Forbidden(f"GTIN {product.gtin} belongs to {product.brand_id!r}", field="gtin")
    if not reason.strip():
        raise Unprocessable("a recall needs a reason", field="reason")
    if serials and lot:
        raise Unprocessable("recall either serials or a lot, not both", field="lot")
    whole = not serials and not lot
    if serials:
        seeds = list(session.exec(select(Item).where(Item.gtin == product.gtin, col(Item.serial).in_(serials))).all())
        missing = sorted(set(serials) - {i.serial for i in seeds})
        if missing:
            raise NotFound(f"serials not registered for GTIN {product.gtin}: {', '.join(missing[:5])}", field="serials")
    else:
        query = select(Item).where(Item.gtin == product.gtin)
        seeds = list(session.exec(query.where(Item.lot == lot) if lot else query).all())
        if lot and not seeds:
            raise NotFound(f"no item of GTIN {product.gtin} is in lot {lot!r}", field="lot")
    if (
        whole
        and session.exec(
            select(RecallRecord).where(RecallRecord.gtin == product.gtin, col(RecallRecord.whole_gtin).is_(True))
        ).first()
    ):
        raise Conflict(f"GTIN {product.gtin} is already recalled", field="gtin")

    # Everything made from or packed with the seeds. For a whole GTIN the chain's isGtinRecalled
    # covers the GTIN's own items; the scope root only needs what lies beyond it.
    reached = downstream(session, {item_key(i.gtin, i.serial) for i in seeds})
    items = _items_of_keys(session, set(reached))
    if whole:
        items = [i for i in items if i.gtin != product.gtin]
    items.sort(key=lambda i: (i.gtin, i.serial))
    scope_root = WHOLE_GTIN
    tree = None
    if items:
        tree = MerkleTree.build([item_leaf(int(i.gtin), bytes.fromhex(i.commitment[2:])) for i in items])
        scope_root = "0x" + tree.root.hex()
    elif not whole:
        raise Unprocessable("nothing to recall", field="serials")
    if session.exec(
        select(RecallRecord).where(RecallRecord.gtin == product.gtin, RecallRecord.scope_root == scope_root)
    ).first():
        raise Conflict("these items are already recalled", field="serials" if serials else "lot")

    record = RecallRecord(scope_root=scope_root, gtin=product.gtin, brand_id=brand.id, reason=reason,
                          count=len(items), lot=lot, whole_gtin=whole)  # fmt: skip
    session.add(record)
    session.flush()
    for index, item in enumerate(items):
        assert tree is not None
        session.add(RecalledItem(
            recall_id=record.id, item_id=item.id,  # type: ignore[arg-type]
            proof=json.dumps(["0x" + p.hex() for p in tree.proof(index)]),
        ))  # fmt: skip
    product_op = product_operation(session, product.gtin)
    reason_ref = "0x" + keccak(text=reason).hex()
    scopes = ([WHOLE_GTIN] if whole else []) + ([scope_root] if items else [])
    for scope in scopes:
        session.add(Operation(
            kind="recall", signer=f"org:{brand.id}", confirm_key=f"recall:{product.gtin}:{scope}",
            depends_on=product_op.id if product_op else None,
            payload=json.dumps({"gtin": int(product.gtin), "scope_root": scope,
                                "count": 0 if scope == WHOLE_GTIN else len(items), "reason_ref": reason_ref}),
        ))  # fmt: skip
    return record


def _direct(session: Session, item: Item) -> RecallMatch | None:
    whole = session.exec(
        select(RecallRecord).where(RecallRecord.gtin == item.gtin, col(RecallRecord.whole_gtin).is_(True))
    ).first()
    if whole is not None:
        return RecallMatch(whole)
    membership = session.exec(select(RecalledItem).where(RecalledItem.item_id == item.id)).first()
    if membership is None:
        return None
    record = session.get(RecallRecord, membership.recall_id)
    assert record is not None
    return RecallMatch(record, proof=json.loads(membership.proof))


def recall_for(session: Session, item: Item) -> RecallMatch | None:
    """The recall covering an item: its own (whole GTIN, or in a recall's scope), else one of an
    item it was made from or packed with, as the event history shows now."""
    direct = _direct(session, item)
    if direct is not None:
        via = None
        if direct.recall.gtin != item.gtin and direct.proof is not None:
            via = "made from or packed with a recalled product"
        return RecallMatch(direct.recall, via, direct.proof)
    if not session.exec(select(RecallRecord.id)).first():
        return None  # no recall anywhere: skip the trace
    linked = sources(session, item_key(item.gtin, item.serial))
    for other in _items_of_keys(session, set(linked)):
        match = _direct(session, other)
        if match is not None:
            key = item_key(other.gtin, other.serial)
            return RecallMatch(
                match.recall, f"{linked[key]} GTIN {other.gtin} serial {other.serial}, which is recalled"
            )
    return None
