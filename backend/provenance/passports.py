"""Digital product passports: the buyer of a registered item claims its passport (an ERC-721 token
of ``ItemPassports`` whose id is the item's leaf), gives it to another member with their consent,
and anyone who scans the item sees how long its owner has held it and how many owned it before.

Rules (plain Python, no HTTP; the API adds who may call):

- only the buyer claims: the member whose purchase carries the item's accepted ``retail_selling``
  event (its ``credance:saleRef`` is that purchase's ``refs.sale_ref``), once the item's batch
  is on chain; one claim per item, ever (the chain refuses a second passport as well);
- a passport is minted to the member's active address (custodial, or their own wallet);
- the platform relays a transfer only for a passport held at the member's custodial address (a
  passport in their own wallet moves with their wallet), one transfer in flight at a time;
- ownership is read from the mirror of ERC-721 ``Transfer`` events (``mirror_passport_holders``),
  and so is custody: a passport a wallet sent to a member's custodial address is out of custody on
  chain (every transfer clears the flag), and the platform never queues a relay the chain refuses;
- owner changes enter the item's EPCIS history when the chain makes them, never when a request
  queues them (the indexer records them: ``passport_events.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from web3 import Web3

from backend.chain.operations import IssuePassport, RegisterItems, RelayPassport, enqueue, find_operation
from backend.db.models import (
    Customer,
    EpcisEventEpc,
    EpcisEventRecord,
    Item,
    MirrorItemBatch,
    MirrorPassport,
    MirrorPassportHolder,
    Operation,
    PassportClaim,
    PassportTransfer,
    Product,
    Purchase,
    PurchaseLine,
    Refund,
    RefundLine,
)
from backend.errors import Conflict, DomainError, Forbidden, NotFound, Unprocessable
from backend.loyalty import members
from backend.loyalty.customers import get_customer
from backend.loyalty.idempotency import IdempotentCommand, Outcome, recorded_under, run_once
from backend.loyalty.in_flight import IN_FLIGHT, active_address, addresses_of
from backend.loyalty.refs import sale_ref
from backend.provenance.epcis.identifiers import item_key
from backend.provenance.gtin import normalise_gtin
from backend.provenance.items import find_item
from backend.provenance.merkle import item_leaf
from backend.provenance.recalls import recall_for

SALE_STEP = "retail_selling"


@dataclass(frozen=True)
class Ownership:
    """A passport as the chain (the mirror) says: who holds it since when, how many held it before."""

    token_id: str
    gtin: str
    holder: str
    held_since: int  # block time of the transfer that gave it to its holder
    previous_owners: int
    issued_block: int
    custodial: bool = False  # the chain's custody flag: only then may the platform relay it


def token_id_of(item: Item) -> str:
    """The passport's token id: the item's leaf (``ItemPassports.passportId``)."""
    return "0x" + item_leaf(int(item.gtin), bytes.fromhex(item.commitment.removeprefix("0x"))).hex()


def buyer_purchase(session: Session, item: Item) -> Purchase | None:
    """The purchase whose sale of ``item`` was accepted (its ``retail_selling`` event)."""
    events = session.exec(
        select(EpcisEventRecord.body)
        .join(EpcisEventEpc, col(EpcisEventEpc.event_pk) == col(EpcisEventRecord.id))
        .where(EpcisEventEpc.epc == item_key(item.gtin, item.serial), EpcisEventRecord.biz_step == SALE_STEP)
    ).all()
    refs = {json.loads(body).get("credance:saleRef") for body in events}
    if not refs:
        return None
    lines = session.exec(
        select(Purchase, PurchaseLine)
        .join(PurchaseLine, col(PurchaseLine.purchase_id) == col(Purchase.id))
        .where(PurchaseLine.serial == item.serial)
        .order_by(col(Purchase.id))
    ).all()
    for purchase, line in lines:
        if (
            _same_gtin(line.gtin, item.gtin)
            and sale_ref(purchase.store_id, purchase.order_id, item.gtin, item.serial) in refs
        ):
            return purchase
    return None


def _same_gtin(raw: str | None, gtin: str) -> bool:
    try:
        return raw is not None and normalise_gtin(raw) == gtin
    except DomainError:
        return False


@dataclass(frozen=True)
class ClaimInput(IdempotentCommand):
    """A member's claim of an item's passport, once per (member, ``claim_id``)."""

    noun = "passport claim"
    id_field = "claim_id"

    customer_id: str
    claim_id: str
    gtin: str
    serial: str


def claim_passport(session: Session, request: ClaimInput) -> Outcome:
    """Queue the passport of an item the member bought, to their active address. Sent again with
    the same ``claim_id`` and content, the first answer again (never a second issue)."""
    customer = get_customer(session, request.customer_id)
    customer_id = customer.id
    assert customer_id is not None

    recorded = recorded_under(session, PassportClaim, customer_id=customer_id, claim_id=request.claim_id)
    return run_once(session, request, recorded, lambda digest: _claim(session, customer, request, digest))


def _claim(session: Session, customer: Customer, request: ClaimInput, digest: str) -> dict[str, Any]:
    """The claim's issue and record (in ``run_once``'s savepoint: a concurrent claim of the same
    item takes the token id first, and the look-up again finds it claimed); its answer."""
    try:
        gtin = normalise_gtin(request.gtin)
    except DomainError as exc:
        raise Unprocessable(exc.message, field="gtin") from exc
    item = find_item(session, gtin, request.serial)
    if item is None or item.id is None:
        raise NotFound("not a registered item", field="serial")
    purchase = buyer_purchase(session, item)
    if purchase is None:
        raise Conflict("the item has not been sold: only its buyer may claim its passport", field="serial")
    if purchase.customer_id != customer.id:
        raise Forbidden("only the item's buyer may claim its passport", field="customer_id")
    if session.get(PassportClaim, token_id_of(item)) is not None:
        raise Conflict("the item's passport was claimed already (one per item, ever)", field="serial")
    if refunded(session, purchase, item):
        raise Conflict("the item's sale was refunded: its passport cannot be claimed", field="serial")
    if session.get(MirrorItemBatch, item.batch_root) is None:
        raise Conflict("the item's registration is not on chain yet: try again shortly", field="serial")
    token_id = token_id_of(item)
    # After the registration's operation: if a reorganisation takes the registration back, the
    # sender registers the batch again before it issues (the contract checks it is registered).
    registration = find_operation(session, RegisterItems.key(item.batch_root))
    operation = enqueue(
        session,
        IssuePassport(
            account=active_address(customer),
            ref=token_id,
            gtin=int(gtin),
            custodial=customer.wallet is None,
            commitment=item.commitment,
            root=item.batch_root,
            proof=list(json.loads(item.proof)),
        ),
        after=registration,
    )
    assert operation.id is not None
    assert customer.id is not None
    assert purchase.id is not None
    body = _pending_answer(token_id, request.customer_id, operation.id)
    session.add(
        PassportClaim(
            token_id=token_id,
            item_id=item.id,
            customer_id=customer.id,
            purchase_id=purchase.id,
            operation_id=operation.id,
            claim_id=request.claim_id,
            request_hash=digest,
            response=json.dumps(body),
        )
    )
    return body


def refunded(session: Session, purchase: Purchase, item: Item) -> bool:
    """Whether the sale of ``item`` in ``purchase`` was taken back: its line refunded, or the whole
    order refunded by amount (an amount refund names no line: only a whole one returns the item)."""
    refunds = session.exec(select(Refund).where(Refund.purchase_id == purchase.id).order_by(col(Refund.id))).all()
    if not refunds:
        return False
    if Fraction(refunds[-1].share) >= 1:
        return True
    line = session.exec(
        select(PurchaseLine).where(PurchaseLine.purchase_id == purchase.id, PurchaseLine.serial == item.serial)
    ).first()
    if line is None:
        return False
    taken_back = session.exec(
        select(func.coalesce(func.sum(RefundLine.quantity), 0))
        .join(Refund, col(Refund.id) == col(RefundLine.refund_pk))
        .where(Refund.purchase_id == purchase.id, RefundLine.line_no == line.line_no)
    ).one()
    return int(taken_back) > 0


def claimed_serials(session: Session, purchase_id: int) -> set[str]:
    """The serials of the order's items whose passports were claimed (a refund of their lines is
    refused: the passport is its owner's; see docs/passports.md)."""
    return set(
        session.exec(
            select(Item.serial)
            .join(PassportClaim, col(PassportClaim.item_id) == col(Item.id))
            .where(PassportClaim.purchase_id == purchase_id)
        ).all()
    )


def ownership(session: Session, token_id: str, as_of_block: int | None = None) -> Ownership | None:
    """The passport ``token_id`` as mirrored (up to ``as_of_block``: a view's block), or None
    before it is issued on chain."""
    issued = session.get(MirrorPassport, token_id)
    if issued is None or (as_of_block is not None and issued.block_number > as_of_block):
        return None
    query = select(MirrorPassportHolder).where(MirrorPassportHolder.token_id == token_id)
    if as_of_block is not None:
        query = query.where(MirrorPassportHolder.block_number <= as_of_block)
    rows = session.exec(
        query.order_by(col(MirrorPassportHolder.block_number), col(MirrorPassportHolder.log_index))
    ).all()
    if not rows:
        return None
    last = rows[-1]
    return Ownership(
        token_id, issued.gtin, last.holder, last.block_time, len(rows) - 1, issued.block_number, last.custodial
    )


def holds(customer: Customer, owner: Ownership) -> bool:
    """Whether the member holds the passport (at their custodial address or their own wallet)."""
    return owner.holder.lower() in {a.lower() for a in addresses_of(customer)}


@dataclass(frozen=True)
class TransferInput(IdempotentCommand):
    """A member gives a passport they hold to another member, once per (giver, ``transfer_id``)."""

    noun = "passport transfer"
    id_field = "transfer_id"

    customer_id: str
    token_id: str
    transfer_id: str
    to_customer_id: str


def transfer_passport(session: Session, request: TransferInput) -> Outcome:
    """Queue the relay of a custodial passport from its holder to another member."""
    customer = get_customer(session, request.customer_id)
    customer_id = customer.id
    assert customer_id is not None
    members.lock(session, customer_id)  # one transfer of the member's at a time: a second sees the first in flight

    recorded = recorded_under(session, PassportTransfer, from_customer_id=customer_id, transfer_id=request.transfer_id)
    return run_once(session, request, recorded, lambda digest: _transfer(session, customer, request, digest))


def _transfer(session: Session, customer: Customer, request: TransferInput, digest: str) -> dict[str, Any]:
    try:
        recipient = get_customer(session, request.to_customer_id)
    except NotFound as exc:
        raise NotFound(exc.message, field="to_customer_id") from exc
    token_id = request.token_id.lower()
    claim = session.get(PassportClaim, token_id)
    owner = ownership(session, token_id)
    if claim is None or owner is None:
        raise NotFound("no passport issued with this id", field="token_id")
    if not holds(customer, owner):
        raise Forbidden("only the passport's holder may give it away", field="token_id")
    if recipient.id == customer.id:
        raise Unprocessable("a passport cannot be given to its own holder", field="to_customer_id")
    if owner.holder.lower() != customer.address.lower():
        raise Conflict("the passport is in the member's own wallet: it moves with that wallet", field="token_id")
    if not owner.custodial:
        raise Conflict(
            "the passport reached the member's address by a wallet's own transfer, so the chain does not hold "
            "it in custody and would refuse a relay: the platform moves only passports it placed in custody",
            field="token_id",
        )
    if in_flight_transfer(session, token_id) is not None:
        raise Conflict("a transfer of this passport is already under way", field="token_id")
    operation = enqueue(
        session,
        RelayPassport(
            account=Web3.to_checksum_address(owner.holder),
            ref=token_id,
            to=active_address(recipient),
            custodial=recipient.wallet is None,
        ),
    )
    assert operation.id is not None
    assert customer.id is not None
    assert recipient.id is not None
    body = _pending_answer(token_id, request.to_customer_id, operation.id)
    session.add(
        PassportTransfer(
            token_id=token_id,
            from_customer_id=customer.id,
            to_customer_id=recipient.id,
            operation_id=operation.id,
            transfer_id=request.transfer_id,
            request_hash=digest,
            response=json.dumps(body),
        )
    )
    return body


def _pending_answer(token_id: str, customer_id: str, operation_id: int | None) -> dict[str, Any]:
    """The answer to a claim or a transfer (stored: a replay gets it again): queued for the chain;
    ``customer_id`` is the new owner. No EPCIS event yet: the owner change enters the item's
    history once the chain makes it (the indexer records it)."""
    return {"token_id": token_id, "customer_id": customer_id, "operation_id": operation_id, "status": "pending"}


def in_flight_transfer(session: Session, token_id: str) -> PassportTransfer | None:
    return session.exec(
        select(PassportTransfer)
        .join(Operation, col(Operation.id) == col(PassportTransfer.operation_id))
        .where(PassportTransfer.token_id == token_id, col(Operation.status).in_(IN_FLIGHT))
    ).first()


def owned_by(session: Session, customer: Customer) -> list[Ownership]:
    """The passports the member holds now, as mirrored."""
    addresses = [Web3.to_checksum_address(a) for a in addresses_of(customer)]
    tokens = session.exec(
        select(MirrorPassportHolder.token_id).where(col(MirrorPassportHolder.holder).in_(addresses)).distinct()
    ).all()
    found = [ownership(session, token_id) for token_id in sorted(tokens)]
    return [owner for owner in found if owner is not None and holds(customer, owner)]


def pending_claims(session: Session, customer: Customer) -> list[PassportClaim]:
    """Claims of the member not yet issued on chain (mirrored)."""
    claims = session.exec(select(PassportClaim).where(PassportClaim.customer_id == customer.id)).all()
    return [c for c in claims if session.get(MirrorPassport, c.token_id) is None]


def item_of(session: Session, token_id: str) -> Item | None:
    """The item a claimed passport stands for (the serial stays on the server)."""
    claim = session.get(PassportClaim, token_id)
    return None if claim is None else session.get(Item, claim.item_id)


def is_recalled(session: Session, token_id: str) -> bool:
    """Whether a recall of the item's brand covers the passport's item (as the verification page says)."""
    item = item_of(session, token_id)
    return item is not None and recall_for(session, item) is not None


def metadata(session: Session, token_id: str, public_url: str) -> dict[str, Any]:
    """The ERC-721 metadata ``tokenURI`` points at: the product, its Digital Link, the passport's
    facts. Nothing personal and no serial: the token id is public on chain, and a document naming
    the serial would undo the commitment that hides it, so ``external_url`` is the product's
    Digital Link (``/01/<gtin>``), where the scanned item's own link leads as well."""
    owner = ownership(session, token_id)
    if owner is None:
        raise NotFound("no passport issued with this id", field="token_id")
    product = session.get(Product, owner.gtin)
    name = product.name if product is not None else f"GTIN {owner.gtin}"
    attributes: list[dict[str, Any]] = [
        {"trait_type": "GTIN", "value": owner.gtin},
        {"trait_type": "Previous owners", "value": owner.previous_owners, "display_type": "number"},
        {"trait_type": "Held since", "value": owner.held_since, "display_type": "date"},
        {"trait_type": "Recalled", "value": "yes" if is_recalled(session, token_id) else "no"},
    ]
    if product is not None:
        attributes.insert(1, {"trait_type": "Brand", "value": product.brand_id})
    return {
        "name": f"Passport: {name}",
        "description": f"Certificate of a genuine {name}, owned on chain; its history is public at its Digital Link.",
        "external_url": f"{public_url.rstrip('/')}/01/{owner.gtin}",
        "attributes": attributes,
    }


def verification_facts(session: Session, item: Item, as_of_block: int) -> dict[str, Any] | None:
    """What the item's verification answer says of its passport (None: no passport at that block):
    owned since, how many owners, and where its holder proves it. The answer is public and cached
    (the mirror's tables move its version), so it cannot say whether the scanner is the owner."""
    token_id = token_id_of(item)
    owner = ownership(session, token_id, as_of_block)
    if owner is None:
        return None
    return {
        "token_id": token_id,
        "held_since": owner.held_since,
        "previous_owners": owner.previous_owners,
        "owners": owner.previous_owners + 1,
        "prove": {
            "with_wallet": f"/v1/passports/{token_id}/challenges",
            "with_account": "/me/passports",
        },
    }
