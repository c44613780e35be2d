"""Recalls: a brand recalls a whole GTIN, a lot or a set of serials. The recall reaches the brand's
own items made from them (transformation) or packed with them (aggregation), as the event history
shows at the time of the recall; those items are committed on chain as one Merkle scope root, each
keeping its inclusion proof and its position in the tree. A recall never reaches another brand's
items: an item of another brand packed with (or made from) a recalled one gets a notice, "packed
with a recalled item", and keeps its verdict; only its own brand can recall it. On chain the scope
belongs to the recalling brand as well (``ProvenanceRegistry.isItemRecalled``).

Items that the history links to a recalled one later are found at verification time
(:func:`recall_status`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from eth_utils import keccak
from sqlmodel import Session, col, select

from backend.chain.operations import Recall, enqueue
from backend.db.models import Item, MirrorRecall, Organisation, Product, RecalledItem, RecallRecord
from backend.errors import Conflict, Forbidden, NotFound, Unprocessable
from backend.provenance.epcis.graph import downstream, sources
from backend.provenance.epcis.identifiers import item_key
from backend.provenance.items import serial_chunks
from backend.provenance.merkle import MerkleTree, item_leaf
from backend.provenance.products import get_product, product_operation

WHOLE_GTIN = "0x" + "00" * 32
_KEY_PREFIX = "https://id.gs1.org/01/"
# An item key inside a trace's description (serials are percent-encoded in keys: no spaces,
# commas or parentheses).
_ITEM_IN_TEXT = re.compile(r"https://id\.gs1\.org/01/(\d{14})/21/[^\s,()]+")


def _without_serials(text: str) -> str:
    """A description for the public answer, every serialized item in it named by its GTIN only:
    whoever scans one item must not learn the serials of what it was made from or packed with."""
    return _ITEM_IN_TEXT.sub(lambda m: f"an item of GTIN {m.group(1)}", text)


@dataclass(frozen=True)
class RecallMatch:
    """Why an item is recalled: the recall, and how the item is linked to what was recalled."""

    recall: RecallRecord
    via: str | None = None  # None: the item itself is in the recall's scope
    proof: list[str] | None = None  # its Merkle proof in the scope root, if it is in the scope


@dataclass(frozen=True)
class RecallNotice:
    """Another brand's recall of an item this one is linked to. It does not recall this item."""

    recall: RecallRecord
    relation: str  # "packed with a recalled item", "made from a recalled item", "packed in a recalled item"
    detail: str


@dataclass(frozen=True)
class RecallStatus:
    match: RecallMatch | None
    notices: list[RecallNotice] = field(default_factory=list)


def _items_of_keys(session: Session, keys: Iterable[str]) -> list[Item]:
    pairs = []
    for key in keys:
        if key.startswith(_KEY_PREFIX) and "/21/" in key:
            gtin, _, serial = key[len(_KEY_PREFIX) :].partition("/21/")
            pairs.append((gtin, unquote(serial)))
    items: list[Item] = []
    for gtin, serials in serial_chunks(pairs):
        items.extend(session.exec(select(Item).where(Item.gtin == gtin, col(Item.serial).in_(serials))).all())
    return items


def _brands_of(session: Session, gtins: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(gtins))
    brands: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.exec(select(Product.gtin, Product.brand_id).where(col(Product.gtin).in_(chunk))).all()
        brands.update(dict(rows))
    return brands


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

    # The brand's own items made from or packed with the seeds; other brands' items are theirs to
    # recall (they see a notice). For a whole GTIN the chain's isGtinRecalled covers the GTIN's own
    # items; the scope root only needs what lies beyond it.
    reached = downstream(session, {item_key(i.gtin, i.serial) for i in seeds})
    candidates = _items_of_keys(session, reached)
    brands = _brands_of(session, {i.gtin for i in candidates})
    items = [i for i in candidates if brands.get(i.gtin) == brand.id and not (whole and i.gtin == product.gtin)]
    items.sort(key=lambda i: (i.gtin, i.serial))
    scope_root = WHOLE_GTIN
    tree = None
    if items:
        tree = MerkleTree.build([item_leaf(int(i.gtin), bytes.fromhex(i.commitment[2:])) for i in items])
        scope_root = "0x" + tree.root.hex()
    elif not whole:
        raise Unprocessable("nothing to recall", field="serials")
    # The chain keeps one recall per scope root and brand (recallOfScope[brand][root]).
    same_scope = select(RecallRecord).where(RecallRecord.brand_id == brand.id, RecallRecord.scope_root == scope_root)
    if scope_root != WHOLE_GTIN and session.exec(same_scope).first():
        raise Conflict("these items are already recalled", field="serials" if serials else "lot")

    record = RecallRecord(
        scope_root=scope_root,
        gtin=product.gtin,
        brand_id=brand.id,
        reason=reason,
        count=len(items),
        lot=lot,
        whole_gtin=whole,
    )
    session.add(record)
    session.flush()
    for index, item in enumerate(items):
        assert tree is not None
        assert record.id is not None  # flushed
        assert item.id is not None
        session.add(
            RecalledItem(
                recall_id=record.id,
                item_id=item.id,
                position=index,
                proof=json.dumps(["0x" + p.hex() for p in tree.proof(index)]),
            )
        )
    product_op = product_operation(session, product.gtin)
    reason_ref = "0x" + keccak(text=reason).hex()
    scopes = ([WHOLE_GTIN] if whole else []) + ([scope_root] if items else [])
    for scope in scopes:
        count = 0 if scope == WHOLE_GTIN else len(items)
        recall = Recall(org=brand.id, gtin=int(product.gtin), scope_root=scope, count=count, reason_ref=reason_ref)
        enqueue(session, recall, after=product_op)
    return record


# -- which recalls reach an item -------------------------------------------------------------


def _direct_recalls(session: Session, items: list[Item]) -> dict[int, list[RecallMatch]]:
    """Item id → the recalls naming it directly: its whole GTIN's, or a scope listing it."""
    found: dict[int, list[RecallMatch]] = {}
    gtins = sorted({i.gtin for i in items})
    whole: dict[str, RecallRecord] = {}
    for start in range(0, len(gtins), 500):
        chunk = gtins[start : start + 500]
        for record in session.exec(
            select(RecallRecord).where(col(RecallRecord.gtin).in_(chunk), col(RecallRecord.whole_gtin).is_(True))
        ).all():
            whole.setdefault(record.gtin, record)
    by_id = {i.id: i for i in items if i.id is not None}
    for item in items:
        if item.gtin in whole and item.id is not None:
            found.setdefault(item.id, []).append(RecallMatch(whole[item.gtin]))
    ids = sorted(by_id)
    for start in range(0, len(ids), 500):
        id_chunk = ids[start : start + 500]
        rows = session.exec(
            select(RecalledItem, RecallRecord)
            .join(RecallRecord, col(RecallRecord.id) == col(RecalledItem.recall_id))
            .where(col(RecalledItem.item_id).in_(id_chunk))
            .order_by(col(RecalledItem.recall_id))
        ).all()
        for membership, record in rows:
            found.setdefault(membership.item_id, []).append(RecallMatch(record, proof=json.loads(membership.proof)))
    return found


def _relation(how: str) -> str:
    """The notice's wording for how an item is linked to a recalled one (see graph.sources)."""
    if how.startswith("made from"):
        return "made from a recalled item"
    if how.startswith("packed in"):
        return "packed in a recalled item"
    return "packed with a recalled item"


def recall_status(session: Session, item: Item) -> RecallStatus:
    """The recall covering an item, if any: one of its own brand that names it (whole GTIN, or in
    the scope), else one of its brand that reaches an item it was made from or packed with, as the
    event history shows now. Recalls of other brands linked to it become notices."""
    brands = _brands_of(session, [item.gtin])
    brand_id = brands.get(item.gtin)
    match: RecallMatch | None = None
    notices: dict[int, RecallNotice] = {}
    for direct in _direct_recalls(session, [item]).get(item.id or 0, []):
        if direct.recall.brand_id == brand_id:
            if match is None:
                via = "made from or packed with a recalled product" if direct.recall.gtin != item.gtin else None
                match = RecallMatch(direct.recall, via, direct.proof)
        else:  # a scope written before recalls were tied to their brand
            detail = f"listed in a recall by {direct.recall.brand_id!r}"
            notices.setdefault(
                direct.recall.id or 0, RecallNotice(direct.recall, "packed with a recalled item", detail)
            )
    if match is not None and not notices:
        return RecallStatus(match)
    if not session.exec(select(RecallRecord.id)).first():
        return RecallStatus(match, list(notices.values()))  # no recall anywhere: skip the trace
    linked = sources(session, item_key(item.gtin, item.serial))
    others = _items_of_keys(session, linked)
    brands.update(_brands_of(session, {o.gtin for o in others}))
    recalled = _direct_recalls(session, others)
    for other in sorted(others, key=lambda o: (o.gtin, o.serial)):
        how = _without_serials(linked[item_key(other.gtin, other.serial)])
        for found in recalled.get(other.id or 0, []):
            if found.recall.brand_id != brands.get(other.gtin):
                continue  # not a recall of that item either
            if found.recall.brand_id == brand_id:
                if match is None:
                    match = RecallMatch(found.recall, f"{how} an item of GTIN {other.gtin}, which is recalled")
            else:
                detail = f"{how} an item of GTIN {other.gtin}, recalled by {found.recall.brand_id!r}"
                notices.setdefault(found.recall.id or 0, RecallNotice(found.recall, _relation(how), detail))
    return RecallStatus(match, list(notices.values()))


def recall_for(session: Session, item: Item) -> RecallMatch | None:
    """The recall covering an item (its own brand's only), or None."""
    return recall_status(session, item).match


# -- the public scope of a recall --------------------------------------------------------------


def recall_scope(session: Session, recall_id: int) -> dict[str, Any]:
    """The leaves of an on-chain recall's scope, in tree order, so that anyone can rebuild its root
    and test an item's membership without trusting this server."""
    on_chain = session.get(MirrorRecall, recall_id)
    if on_chain is None:
        raise NotFound(f"recall {recall_id} is not on chain (or not mirrored yet)", field="recall_id")
    answer: dict[str, Any] = {
        "recall_id": recall_id,
        "brand": on_chain.brand_id,
        "scope_root": on_chain.scope_root,
        "gtins": [on_chain.gtin],
        "leaves": [],
    }
    if on_chain.scope_root == WHOLE_GTIN:
        return answer  # every item of the GTIN: isGtinRecalled(gtin)
    record = session.exec(
        select(RecallRecord)
        .join(Organisation, col(Organisation.id) == col(RecallRecord.brand_id))
        .where(
            Organisation.chain_id == on_chain.brand_id,
            RecallRecord.gtin == on_chain.gtin,
            RecallRecord.scope_root == on_chain.scope_root,
        )
    ).first()
    if record is None:
        raise NotFound(
            f"recall {recall_id} was not issued through this platform: its scope is unknown here", field="recall_id"
        )
    rows = session.exec(
        select(Item.gtin, Item.commitment)
        .join(RecalledItem, col(RecalledItem.item_id) == col(Item.id))
        .where(RecalledItem.recall_id == record.id)
        .order_by(col(RecalledItem.position))
    ).all()
    answer["gtins"] = sorted({gtin for gtin, _ in rows})
    answer["leaves"] = ["0x" + item_leaf(int(gtin), bytes.fromhex(commitment[2:])).hex() for gtin, commitment in rows]
    return answer
