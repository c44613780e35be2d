"""Collectible rewards (docs/collectibles.md): what a member holds, a ticket shown at a door and
its check, polls of an edition's holders, and the votes and transfers the platform relays for
custodial members. Redeeming one is an ordinary redemption of its reward
(``/v1/customers/{id}/redemptions``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from backend.api.auth import Role
from backend.api.budget import RouteClass
from backend.api.deps import SessionDep, StateDep
from backend.api.policy import ANY_PRINCIPAL, COLLECTIBLE, MEMBER_READ, POLL_OPEN, PUBLIC, TICKET_CHECK, Access
from backend.api.replays import answered
from backend.api.route_facts import declare
from backend.api.schemas.collectibles import (
    CollectibleTransferIn,
    CollectibleTransferQueued,
    EditionMetadataOut,
    MemberCollectiblesOut,
    PollIn,
    PollOut,
    TicketCheckIn,
    TicketCheckOut,
    TicketIn,
    TicketOut,
    VoteIn,
    VoteQueued,
)
from backend.api.schemas.common import ERROR_RESPONSES
from backend.errors import NotFound
from backend.loyalty import polls, tickets
from backend.loyalty.collectible_transfers import CollectibleTransferInput, custody_by_edition, transfer_collectible
from backend.loyalty.collectibles import addresses_of, edition_metadata, holdings
from backend.loyalty.customers import get_customer
from backend.web import qr

router = APIRouter(tags=["collectibles"], responses=ERROR_RESPONSES)
PollId = Annotated[int, Path(ge=1, le=2**63 - 1)]
EditionId = Annotated[int, Path(ge=1, le=2**63 - 1)]
# ERC-1155's {id}: the token id in lowercase hexadecimal, 64 digits, no 0x (EIP-1155, "Metadata")
EditionHex = Annotated[str, Path(pattern="^[0-9a-f]{64}$")]


def _organisation(access: Access) -> str | None:
    """The caller's organisation when it calls with an organisation key (limited to its editions)."""
    return access.org_id if access.role == Role.ORGANISATION else None


@router.get(
    "/v1/customers/{customer_id}/collectibles",
    response_model=MemberCollectiblesOut,
    summary="Collectibles a member holds",
)
def held(customer_id: str, access: Annotated[Access, Depends(MEMBER_READ)], session: SessionDep) -> dict[str, Any]:
    """Copies of each edition at the member's custodial address and wallet, from the mirror, and
    how many of them the platform holds in custody (the member may give those through it)."""
    customer = get_customer(session, customer_id)
    custody = custody_by_edition(session, customer.address)
    listed = [{**asdict(h), "in_custody": custody.get(h.edition, 0)} for h in holdings(session, addresses_of(customer))]
    return {"customer_id": customer_id, "collectibles": listed}


@router.post("/v1/customers/{customer_id}/tickets", response_model=TicketOut, status_code=201, summary="Show a ticket")
def ticket(
    customer_id: str, body: TicketIn, access: Annotated[Access, Depends(COLLECTIBLE)], session: SessionDep
) -> dict[str, Any]:
    """A short-lived signed code (and its QR image) for a copy of the edition the member holds."""
    customer = get_customer(session, customer_id)
    issued = tickets.issue_ticket(session, customer, body.edition)
    return {
        "ticket": issued.code,
        "qr": qr.data_uri(issued.code),
        "holder": issued.holder,
        "edition": issued.edition,
        "expires_in": issued.expires_in,
    }


@router.post("/v1/tickets/checks", response_model=TicketCheckOut, summary="Check a ticket at a door")
def check(body: TicketCheckIn, access: Annotated[Access, Depends(TICKET_CHECK)], state: StateDep) -> dict[str, Any]:
    """Admits the ticket's holder once: our signature, not expired, still held on the mirror, never used."""
    door = tickets.Door(access.key_id, _organisation(access))
    with state.write() as session:
        checked = tickets.check_ticket(session, body.ticket, door)
        return {"edition": checked.edition, "holder": checked.holder}


@router.post("/v1/polls", response_model=PollOut, status_code=202, summary="Open a poll of an edition's holders")
def open_poll(body: PollIn, access: Annotated[Access, Depends(POLL_OPEN)], state: StateDep) -> dict[str, Any]:
    with state.write() as session:
        poll = polls.open_poll(
            session, body.edition, body.question, body.options, body.blocks_open, _organisation(access)
        )
        return polls.describe(poll, None)


@router.get("/v1/polls/{poll_id}", response_model=PollOut, summary="A poll and its results from the chain")
def read_poll(
    poll_id: PollId, access: Annotated[Access, Depends(ANY_PRINCIPAL)], session: SessionDep
) -> dict[str, Any]:
    """The counts by the rule `credance polls recount` applies to the node's logs (docs/collectibles.md)."""
    poll = polls.get_poll(session, poll_id)
    return polls.describe(poll, polls.results(session, poll_id))


@router.post(
    "/v1/customers/{customer_id}/polls/{poll_id}/votes",
    response_model=VoteQueued,
    status_code=202,
    summary="Vote in a poll (custodial members)",
)
def vote(
    customer_id: str,
    poll_id: PollId,
    body: VoteIn,
    access: Annotated[Access, Depends(COLLECTIBLE)],
    state: StateDep,
) -> dict[str, Any]:
    """The platform relays the vote of a member whose copies it holds in custody, once per poll.
    A member with their own wallet calls ``CollectibleRewards.vote`` with it."""
    with state.write() as session:
        customer = get_customer(session, customer_id)
        cast = polls.relay_vote(session, customer, poll_id, body.option)
        return {
            "poll_id": poll_id,
            "customer_id": customer_id,
            "option": cast.option,
            "operation_id": cast.operation_id,
        }


@router.post(
    "/v1/customers/{customer_id}/collectibles/{edition}/transfers",
    response_model=CollectibleTransferQueued,
    status_code=202,
    summary="Give copies held in custody to another member",
)
def give(
    customer_id: str,
    edition: EditionId,
    body: CollectibleTransferIn,
    access: Annotated[Access, Depends(COLLECTIBLE)],
    state: StateDep,
    response: Response,
) -> dict[str, Any]:
    """Queues the relayed transfer of copies the member holds in custody (minted to their custodial
    address). Copies in the member's own wallet move with that wallet (an ERC-1155 transfer it
    signs), never through the platform. An idempotent command: sent again with its
    ``transfer_id``, the first answer."""
    request = CollectibleTransferInput(customer_id, edition, body.transfer_id, body.to_customer_id, body.amount)
    with state.write() as session:
        outcome = transfer_collectible(session, request)
    return answered(outcome, response)


@router.get(
    "/collectibles/{edition_hex}.json",
    dependencies=[Depends(PUBLIC)],
    response_model=EditionMetadataOut,
    summary="An edition's ERC-1155 metadata (its uri)",
    openapi_extra=declare(RouteClass.PUBLIC),
)
def metadata(edition_hex: EditionHex, session: SessionDep) -> dict[str, Any]:
    """Public: what ``CollectibleRewards.uri`` points at, ``{id}`` replaced as EIP-1155 says. No
    holder and no personal data: the edition's name, description, cap and organiser."""
    edition = int(edition_hex, 16)
    if edition > 2**63 - 1:
        raise NotFound(f"edition {edition} is no reward", field="edition")
    return edition_metadata(session, edition)
