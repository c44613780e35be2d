"""Owner changes of a passport as facts of the item's EPCIS history, without personal data.

CBV 2.0 expresses a change of ownership with source and destination lists of type
``owning_party`` (CBV §8.4.3: "the party who owned the objects before/after"), on an event that
observes the object: an ``ObjectEvent`` with ``action`` ``OBSERVE`` (the object exists before and
after; nothing is created or ended). No business step of the CBV is an ownership change between
consumers (``retail_selling`` is the store's sale, recorded already), so the event carries none
and the lists say what happened. A first owner (the claim) has a destination only; each resale
has both. The parties are ``urn:credance:passport-owner:<ref>``: keyed references of (passport,
member) (``refs.passport_owner_ref``), unrelated to any account, address or other passport.

The brand records it (the platform writes on its behalf, as it does a sale without a store
organisation), in the request's unit of work, when the claim or the relay is queued: the
event's time is that moment, so its CBV hash is fixed from then on. A passport moved by its
holder's own wallet (an ERC-721 transfer the platform does not relay) shows in the passport's
holders (``/v1/passports/{token_id}``), not in EPCIS.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from backend.db.models import Item, Organisation, Product
from backend.loyalty.refs import passport_owner_ref
from backend.provenance.epcis.capture import capture_events
from backend.provenance.epcis.events import parse_event
from backend.provenance.epcis.identifiers import item_key

OWNING_PARTY = "owning_party"
PARTY_PREFIX = "urn:credance:passport-owner:"


def owner_change_event(gtin: str, serial: str, previous: str | None, new: str, when: datetime) -> dict[str, object]:
    """The EPCIS 2.0 JSON of an owner change (``previous``/``new``: the parties' references)."""
    event: dict[str, object] = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "epcList": [item_key(gtin, serial)],
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "eventTimeZoneOffset": "+00:00",
        "destinationList": [{"type": OWNING_PARTY, "destination": PARTY_PREFIX + new}],
    }
    if previous is not None:
        event["sourceList"] = [{"type": OWNING_PARTY, "source": PARTY_PREFIX + previous}]
    return event


def record_owner_change(
    session: Session, item: Item, token_id: str, previous_customer: int | None, new_customer: int, when: datetime
) -> str:
    """Capture the owner change of ``item``'s passport, written by its brand; its event id."""
    product = session.get(Product, item.gtin)
    assert product is not None  # a registered item's product
    brand = session.get(Organisation, product.brand_id)
    assert brand is not None
    previous = None if previous_customer is None else passport_owner_ref(token_id, previous_customer)
    body = owner_change_event(item.gtin, item.serial, previous, passport_owner_ref(token_id, new_customer), when)
    captured = capture_events(session, brand, [parse_event(body, {}, index=0)])
    return captured[0].event_id
