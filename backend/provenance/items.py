"""Serialized items, registered in bulk: each serial gets a secret salt; the batch of salted
commitments becomes one Merkle root on chain, and every item keeps its inclusion proof."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlmodel import Session, col, select

from backend.chain.operations import RegisterItems, enqueue
from backend.db.models import Item, ItemBatch, Organisation
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.errors import Conflict, Forbidden, Unprocessable
from backend.provenance.epcis.identifiers import parse_identifier
from backend.provenance.epcis.public_form import item_token
from backend.provenance.merkle import MerkleTree, item_commitment, item_leaf
from backend.provenance.organisations import may_manufacture
from backend.provenance.products import get_product, product_operation

# GS1 AI (21) serial: up to 20 characters of GS1 AI encodable character set 82.
SERIAL_PATTERN = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")
MAX_BATCH = 100_000


@dataclass(frozen=True)
class RegisteredBatch:
    root: str
    gtin: str
    count: int


def _validate_serials(serials: list[str]) -> None:
    if not serials:
        raise Unprocessable("at least one serial is needed", field="serials")
    if len(serials) > MAX_BATCH:
        raise Unprocessable(f"at most {MAX_BATCH} serials per batch", field="serials")
    for index, serial in enumerate(serials):
        if not SERIAL_PATTERN.match(serial):
            raise Unprocessable(f"serial {serial!r} is not a GS1 serial (1-20 characters)", field=f"serials[{index}]")
    if len(set(serials)) != len(serials):
        raise Unprocessable("serials repeat within the batch", field="serials")


def register_items(
    session: Session, manufacturer: Organisation, gtin: str, serials: list[str], lot: str | None = None
) -> RegisteredBatch:
    product = get_product(session, gtin)
    if not may_manufacture(session, manufacturer, product.brand_id):
        raise Forbidden(
            f"{manufacturer.id!r} is not authorised by {product.brand_id!r} to register its items",
            field="gtin",
        )
    _validate_serials(serials)
    existing: list[str] = []
    for start in range(0, len(serials), 5000):  # keep under the database's bound-parameter limit
        chunk = serials[start : start + 5000]
        existing += session.exec(
            select(Item.serial).where(Item.gtin == product.gtin, col(Item.serial).in_(chunk)).limit(5)
        ).all()
    if existing:
        raise Conflict(
            f"serials already registered for GTIN {product.gtin}: {', '.join(existing[:5])}", field="serials"
        )

    salts = [secrets.token_bytes(32) for _ in serials]
    commitments = [item_commitment(salt, serial) for salt, serial in zip(salts, serials, strict=True)]
    tree = MerkleTree.build([item_leaf(int(product.gtin), c) for c in commitments])
    root = "0x" + tree.root.hex()
    session.add(ItemBatch(root=root, gtin=product.gtin, manufacturer_id=manufacturer.id, count=len(serials), lot=lot))
    session.flush()
    now = utcnow()
    session.execute(
        table_of(Item).insert(),
        [
            {
                "gtin": product.gtin,
                "serial": serial,
                "salt": "0x" + salt.hex(),
                "commitment": "0x" + commitment.hex(),
                "batch_root": root,
                "proof": json.dumps(["0x" + p.hex() for p in tree.proof(index)]),
                "lot": lot,
                "status": "registered",
                "created_at": now,
            }
            for index, (serial, salt, commitment) in enumerate(zip(serials, salts, commitments, strict=True))
        ],
    )
    product_op = product_operation(session, product.gtin)
    batch = RegisterItems(org=manufacturer.id, gtin=int(product.gtin), root=root, count=len(serials))
    enqueue(session, batch, after=product_op)
    return RegisteredBatch(root, product.gtin, len(serials))


def find_item(session: Session, gtin: str, serial: str) -> Item | None:
    return session.exec(select(Item).where(Item.gtin == gtin, Item.serial == serial)).first()


def serial_chunks(pairs: Iterable[tuple[str, str]], size: int = 500) -> Iterator[tuple[str, list[str]]]:
    """``(gtin, serials)`` groups of at most ``size`` serials, to look items up as ``gtin = ? AND
    serial IN (…)``: an index search on ``uq_items_gtin_serial``. (SQLite answers a row-value
    ``(gtin, serial) IN ((?, ?), …)`` with a scan of the whole items table.)"""
    by_gtin: dict[str, set[str]] = {}
    for gtin, serial in pairs:
        by_gtin.setdefault(gtin, set()).add(serial)
    for gtin in sorted(by_gtin):
        serials = sorted(by_gtin[gtin])
        for start in range(0, len(serials), size):
            yield gtin, serials[start : start + size]


def tokens_of(session: Session, keys: Iterable[str]) -> dict[str, str]:
    """The public token (``item:0x<itemLeaf>``) of each registered item among ``keys`` (item keys;
    other identifiers are skipped)."""
    wanted: dict[tuple[str, str], str] = {}
    for key in keys:
        identifier = parse_identifier(key)
        if identifier is not None and identifier.is_item and identifier.gtin and identifier.serial is not None:
            wanted[(identifier.gtin, identifier.serial)] = key
    tokens: dict[str, str] = {}
    for gtin_of_chunk, serials in serial_chunks(wanted):
        rows = session.exec(
            select(Item.gtin, Item.serial, Item.commitment).where(
                Item.gtin == gtin_of_chunk, col(Item.serial).in_(serials)
            )
        ).all()
        for gtin, serial, commitment in rows:
            tokens[wanted[(gtin, serial)]] = item_token(gtin, bytes.fromhex(commitment[2:]))
    return tokens
