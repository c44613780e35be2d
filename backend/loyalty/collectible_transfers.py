"""A custodial member gives copies of a collectible to another member (docs/collectibles.md).

Copies minted to a member's custodial address are held in custody: no key exists for that
address, so the platform relays their transfer (``relay_collectible_transfer``, the issuer key)
with the member's consent (their customer token). Rules (plain Python, no HTTP):

- only copies in custody move this way: what ``CollectibleRewards.custodialBalanceOf`` counts
  for the member's custodial address, as mirrored (``mirror_collectible_custody``). Copies in the
  member's own wallet move with that wallet, never by the platform (409 ``edition``); the
  contract refuses a relay of more than the custodial count anyway;
- one transfer of an edition's copies per member in flight at a time (409 ``edition``): the
  mirror says nothing of a relay until it is mined, and a second one could count the same copies;
- the receiver's copies go to their active address: custodial (and then in custody there) or
  their own wallet. A member who has taken a wallet since their copies were minted names
  themselves as the receiver to bring the copies into that wallet (out of custody for good).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from web3 import Web3

from backend.chain.operations import RelayCollectibleTransfer, enqueue
from backend.db.models import CollectibleTransfer, Customer, MirrorCollectibleCustody, Operation
from backend.errors import Conflict, NotFound, Unprocessable
from backend.loyalty import members
from backend.loyalty.collectibles import copies_held
from backend.loyalty.customers import get_customer
from backend.loyalty.idempotency import IdempotentCommand, Outcome, recorded_under, run_once
from backend.loyalty.in_flight import IN_FLIGHT, active_address
from backend.loyalty.tickets import collectible_reward


@dataclass(frozen=True)
class CollectibleTransferInput(IdempotentCommand):
    """A member gives copies they hold in custody to another member, once per (giver, ``transfer_id``)."""

    noun = "collectible transfer"
    id_field = "transfer_id"

    customer_id: str
    edition: int
    transfer_id: str
    to_customer_id: str
    amount: int = 1


def copies_in_custody(session: Session, address: str, edition: int) -> int:
    """Copies of ``edition`` the contract holds in custody at ``address``, as mirrored."""
    custody = MirrorCollectibleCustody
    total = session.exec(
        select(func.coalesce(func.sum(custody.change), 0)).where(custody.holder == address, custody.edition == edition)
    ).one()
    return int(total)


def custody_by_edition(session: Session, address: str) -> dict[int, int]:
    """Copies in custody at ``address`` per edition, as mirrored (those with none left out)."""
    custody = MirrorCollectibleCustody
    rows = session.exec(
        select(custody.edition, func.sum(custody.change))
        .where(custody.holder == address)
        .group_by(col(custody.edition))
    ).all()
    return {edition: int(total) for edition, total in rows if int(total) > 0}


def in_flight_transfer(session: Session, customer_id: int, edition: int) -> CollectibleTransfer | None:
    return session.exec(
        select(CollectibleTransfer)
        .join(Operation, col(Operation.id) == col(CollectibleTransfer.operation_id))
        .where(
            CollectibleTransfer.from_customer_id == customer_id,
            CollectibleTransfer.edition == edition,
            col(Operation.status).in_(IN_FLIGHT),
        )
    ).first()


def transfer_collectible(session: Session, request: CollectibleTransferInput) -> Outcome:
    """Queue the relay of copies the member holds in custody to another member."""
    customer = get_customer(session, request.customer_id)
    customer_id = customer.id
    assert customer_id is not None
    members.lock(session, customer_id)  # one transfer of the member's at a time: a second sees the first in flight

    recorded = recorded_under(
        session, CollectibleTransfer, from_customer_id=customer_id, transfer_id=request.transfer_id
    )
    return run_once(session, request, recorded, lambda digest: _transfer(session, customer, request, digest))


def _transfer(session: Session, customer: Customer, request: CollectibleTransferInput, digest: str) -> dict[str, Any]:
    assert customer.id is not None
    edition = request.edition
    collectible_reward(session, edition)  # 404 edition: no such collectible
    try:
        recipient = get_customer(session, request.to_customer_id)
    except NotFound as exc:
        raise NotFound(exc.message, field="to_customer_id") from exc
    assert recipient.id is not None
    if recipient.id == customer.id and customer.wallet is None:
        raise Unprocessable("copies cannot be given to their own holder", field="to_customer_id")
    if in_flight_transfer(session, customer.id, edition) is not None:
        raise Conflict(f"a transfer of the member's copies of edition {edition} is already under way", field="edition")
    in_custody = copies_in_custody(session, customer.address, edition)
    if in_custody == 0:
        in_wallet = customer.wallet is not None and copies_held(session, customer.wallet, edition) > 0
        where = "in the member's own wallet: they move with it" if in_wallet else "not held in custody"
        raise Conflict(f"the member's copies of edition {edition} are {where}", field="edition")
    if request.amount > in_custody:
        raise Conflict(f"the member holds {in_custody} copies of edition {edition} in custody", field="amount")
    operation = enqueue(
        session,
        RelayCollectibleTransfer(
            account=Web3.to_checksum_address(customer.address),
            amount=request.amount,
            edition=edition,
            to=active_address(recipient),
            custodial=recipient.wallet is None,
        ),
    )
    assert operation.id is not None
    body = {
        "customer_id": request.customer_id,
        "edition": edition,
        "to_customer_id": request.to_customer_id,
        "amount": request.amount,
        "operation_id": operation.id,
        "status": "pending",
    }
    session.add(
        CollectibleTransfer(
            from_customer_id=customer.id,
            to_customer_id=recipient.id,
            edition=edition,
            amount=request.amount,
            operation_id=operation.id,
            transfer_id=request.transfer_id,
            request_hash=digest,
            response=json.dumps(body),
        )
    )
    return body
