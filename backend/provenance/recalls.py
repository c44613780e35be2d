"""Recalls: a brand recalls a whole GTIN or a set of its serials; the scope is committed on chain
as a Merkle root over the recalled items' leaves."""

from __future__ import annotations

import json

from eth_utils import keccak
from sqlmodel import Session, col, select

from backend.db.models import Item, Operation, Organisation, RecalledItem, RecallRecord
from backend.errors import Conflict, Forbidden, NotFound, Unprocessable
from backend.provenance.merkle import MerkleTree, item_leaf
from backend.provenance.products import get_product, product_operation

WHOLE_GTIN = "0x" + "00" * 32


def issue_recall(
    session: Session, brand: Organisation, gtin: str, reason: str, serials: list[str] | None = None
) -> RecallRecord:
    product = get_product(session, gtin)
    if product.brand_id != brand.id:
        raise Forbidden(f"GTIN {product.gtin} belongs to {product.brand_id!r}", field="gtin")
    items: list[Item] = []
    if serials:
        items = list(session.exec(select(Item).where(Item.gtin == product.gtin, col(Item.serial).in_(serials))).all())
        missing = sorted(set(serials) - {i.serial for i in items})
        if missing:
            raise NotFound(f"serials not registered for GTIN {product.gtin}: {', '.join(missing[:5])}", field="serials")
        tree = MerkleTree.build([item_leaf(int(product.gtin), bytes.fromhex(i.commitment[2:])) for i in items])
        scope_root = "0x" + tree.root.hex()
    else:
        scope_root = WHOLE_GTIN
    if session.exec(
        select(RecallRecord).where(RecallRecord.gtin == product.gtin, RecallRecord.scope_root == scope_root)
    ).first():
        what = "these serials are" if serials else f"GTIN {product.gtin} is"
        raise Conflict(f"{what} already recalled", field="serials" if serials else "gtin")
    if not reason.strip():
        raise Unprocessable("a recall needs a reason", field="reason")

    record = RecallRecord(scope_root=scope_root, gtin=product.gtin, brand_id=brand.id, reason=reason, count=len(items))
    session.add(record)
    session.flush()
    for index, item in enumerate(items):
        session.add(RecalledItem(
            recall_id=record.id, item_id=item.id,  # type: ignore[arg-type]
            proof=json.dumps(["0x" + p.hex() for p in tree.proof(index)]),
        ))  # fmt: skip
    product_op = product_operation(session, product.gtin)
    session.add(Operation(
        kind="recall", signer=f"org:{brand.id}", confirm_key=f"recall:{product.gtin}:{scope_root}",
        depends_on=product_op.id if product_op else None,
        payload=json.dumps({
            "gtin": int(product.gtin), "scope_root": scope_root, "count": len(items),
            "reason_ref": "0x" + keccak(text=reason).hex(),
        }),
    ))  # fmt: skip
    return record


def recall_for(session: Session, item: Item) -> RecallRecord | None:
    """The recall covering an item, if any (whole GTIN first)."""
    whole = session.exec(
        select(RecallRecord).where(RecallRecord.gtin == item.gtin, RecallRecord.scope_root == WHOLE_GTIN)
    ).first()
    if whole is not None:
        return whole
    membership = session.exec(select(RecalledItem).where(RecalledItem.item_id == item.id)).first()
    return None if membership is None else session.get(RecallRecord, membership.recall_id)
