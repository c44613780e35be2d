"""Owner changes of a passport as facts of the item's EPCIS history, derived from the chain and
without personal data.

CBV 2.0 expresses a change of ownership with source and destination lists of type
``owning_party`` (CBV §8.4.3: "the party who owned the objects before/after"), on an event that
observes the object: an ``ObjectEvent`` with ``action`` ``OBSERVE`` (the object exists before and
after; nothing is created or ended). No business step of the CBV is an ownership change between
consumers (``retail_selling`` is the store's sale, recorded already), so the event carries none
and the lists say what happened. A first owner (the mint) has a destination only; each later
change has both. ``credance:ownerNumber`` counts the owners (1 for the first): two changes
between the same parties in one block are two facts, not one event seen twice.

Parties are ``urn:credance:passport-owner:<ref>``, keyed references that name no account or
address: a member (their custodial address or their claimed wallet) is the reference of
(passport, member) (``refs.passport_owner_ref``); a wallet no member claims, that of (passport,
address) (``refs.passport_holder_ref``). Members are known as the platform knows them when the
block is indexed (a wallet claimed later names that member in later changes).

The indexer records the event when it applies the passport's ``Transfer`` log (the mint, a relay,
or a wallet's own transfer), in the transaction of the mirror rows, written by the item's brand
(the platform writes on its behalf, as it does a sale without a store organisation). Its time is
the block's, so its CBV hash (its ``eventID``) is the same whenever the same chain is indexed.
A request never writes one: what the chain refuses never enters the history. Each log's event
is keyed by the log's place (``passport_owner_events``): applied again, it is not captured twice;
rolled back, it is deleted with what its capture wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import delete, or_
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from backend.db.models import (
    Customer,
    EpcisEventEpc,
    EpcisEventFacet,
    EpcisEventRecord,
    EpcisLink,
    Item,
    Organisation,
    PassportClaim,
    PassportOwnerEvent,
    Product,
)
from backend.db.schema import table_of
from backend.loyalty.refs import passport_holder_ref, passport_owner_ref
from backend.provenance.epcis.capture import CaptureRejected, capture_events
from backend.provenance.epcis.events import parse_event
from backend.provenance.epcis.identifiers import item_key
from backend.provenance.sales import NAMESPACE

log = structlog.get_logger(__name__)

OWNING_PARTY = "owning_party"
PARTY_PREFIX = "urn:credance:passport-owner:"
REFUSAL_CHARS = 500
CHUNK = 500  # ids per IN list


@dataclass(frozen=True)
class OwnerChange:
    """A passport's ERC-721 ``Transfer`` as mirrored: its log's place, who gave it to whom, and
    how many owners the passport has had with this one."""

    token_id: str
    block_number: int
    log_index: int
    tx_hash: str
    block_time: int
    previous: str  # the zero address for the mint
    holder: str
    owner_number: int


def owner_change_event(
    gtin: str, serial: str, previous: str | None, new: str, when: datetime, owner_number: int
) -> dict[str, object]:
    """The EPCIS 2.0 JSON of an owner change (``previous``/``new``: the parties' references)."""
    event: dict[str, object] = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "epcList": [item_key(gtin, serial)],
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "eventTimeZoneOffset": "+00:00",
        "destinationList": [{"type": OWNING_PARTY, "destination": PARTY_PREFIX + new}],
        "credance:ownerNumber": owner_number,
    }
    if previous is not None:
        event["sourceList"] = [{"type": OWNING_PARTY, "source": PARTY_PREFIX + previous}]
    return event


def party(session: Session, token_id: str, address: str) -> str:
    """The keyed reference of whoever holds ``address``, as an owner of passport ``token_id``."""
    member = session.exec(
        select(Customer.id).where(or_(col(Customer.address) == address, col(Customer.wallet) == address))
    ).first()
    return passport_holder_ref(token_id, address) if member is None else passport_owner_ref(token_id, member)


class _Unknown(Exception):
    """The passport's item or brand is not known here (a passport the platform did not issue)."""


def record_owner_changes(session: Session, changes: Sequence[OwnerChange]) -> None:
    """Capture the EPCIS event of each change (in chain order), once per log."""
    for change in changes:
        _record(session, change)


def _record(session: Session, change: OwnerChange) -> None:
    links = table_of(PassportOwnerEvent)
    known = session.execute(
        core_select(links).where(links.c.block_number == change.block_number, links.c.log_index == change.log_index)
    ).first()
    if known is not None:
        if (known.tx_hash, known.token_id) == (change.tx_hash, change.token_id):
            return  # this log's event is recorded already (a log applied again)
        # Another log held this place (a rollback that never ran): its event goes first.
        session.execute(
            delete(links).where(links.c.block_number == change.block_number, links.c.log_index == change.log_index)
        )
        _forget_events(session, [] if known.event_pk is None else [int(known.event_pk)])
    event_pk, refused = None, None
    try:
        event_pk = _capture(session, change)
    except CaptureRejected as rejected:
        refused = rejected.message[:REFUSAL_CHARS]
    except _Unknown as unknown:
        refused = str(unknown)
    if refused is not None:
        log.warning("passports.owner_change_not_recorded", token_id=change.token_id, reason=refused)
    session.execute(
        links.insert().values(
            block_number=change.block_number,
            log_index=change.log_index,
            tx_hash=change.tx_hash,
            token_id=change.token_id,
            event_pk=event_pk,
            refused=refused,
        )
    )


def _capture(session: Session, change: OwnerChange) -> int:
    """Capture the change's event, written by the item's brand; its row's id."""
    claim = session.get(PassportClaim, change.token_id)
    item = None if claim is None else session.get(Item, claim.item_id)
    product = None if item is None else session.get(Product, item.gtin)
    brand = None if product is None else session.get(Organisation, product.brand_id)
    if item is None or brand is None:
        raise _Unknown("no claim of the platform names this passport's item")
    previous = None if int(change.previous, 16) == 0 else party(session, change.token_id, change.previous)
    body = owner_change_event(
        item.gtin,
        item.serial,
        previous,
        party(session, change.token_id, change.holder),
        datetime.fromtimestamp(change.block_time, UTC),
        change.owner_number,
    )
    with session.begin_nested():  # a refused event leaves nothing behind, and the indexer goes on
        captured = capture_events(session, brand, [parse_event(body, NAMESPACE, index=0)])
    pk = session.exec(select(EpcisEventRecord.id).where(EpcisEventRecord.event_id == captured[0].event_id)).one()
    assert pk is not None
    return pk


def forget_above(session: Session, above_block: int) -> None:
    """Delete the owner changes derived from the blocks above ``above_block`` (a rollback)."""
    links = table_of(PassportOwnerEvent)
    pks = session.execute(
        core_select(links.c.event_pk).where(links.c.block_number > above_block, links.c.event_pk.is_not(None))
    ).scalars()
    found = [int(pk) for pk in pks]
    session.execute(delete(links).where(links.c.block_number > above_block))
    _forget_events(session, found)


def _forget_events(session: Session, pks: Sequence[int]) -> None:
    """Delete these events and everything their capture wrote: the event, the identifiers it
    names, its query facets and any link derived from it (an ``OBSERVE`` changes no item's status
    and no containment, so nothing else is rebuilt). The answers' version moves (a trigger)."""
    for start in range(0, len(pks), CHUNK):
        chunk = list(pks[start : start + CHUNK])
        for model in (EpcisEventFacet, EpcisEventEpc, EpcisLink):
            table = table_of(model)
            session.execute(delete(table).where(table.c.event_pk.in_(chunk)))
        events = table_of(EpcisEventRecord)
        session.execute(delete(events).where(events.c.id.in_(chunk)))
