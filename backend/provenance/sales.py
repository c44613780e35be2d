"""The provenance side of a purchase: a line that carries a registered GTIN and serial marks the
item sold (an EPCIS ``retail_selling`` event, anchored like any other) and, if the program's rules
in force say so, earns a bonus for a genuine product (``GenuineBonuses`` of the published rule
set: per GTIN, GS1 company prefix or brand, under the program's caps). A brand cannot set a bonus:
what the program pays is in the rules, whose hash is on chain. An unknown, recalled, suspicious
or already-sold serial earns nothing, and never blocks the purchase."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from backend.db.models import MirrorItemBatch, Organisation, Product
from backend.db.types import utcnow
from backend.errors import DomainError
from backend.loyalty.refs import sale_ref
from backend.loyalty.rules import Bonus, GenuineBonuses, GenuineItem
from backend.provenance.epcis.capture import CaptureRejected, capture_events
from backend.provenance.epcis.events import parse_event
from backend.provenance.epcis.identifiers import item_key
from backend.provenance.gtin import normalise_gtin
from backend.provenance.items import find_item
from backend.provenance.organisations import may_write_for
from backend.provenance.recalls import recall_for
from backend.provenance.roles import OrgRole
from backend.provenance.scans import clone_signals
from backend.settings import get_settings

# Our own EPCIS extension namespace: the sale event carries the order's reference for the
# organisations that read it (``refs.sale_ref``: keyed, and unrelated to the order's on-chain
# reference, so no brand can find the buyer's account from it).
NAMESPACE = {"credance": "https://credance.dev/epcis/"}


class SerializedLine(Protocol):
    @property
    def gtin(self) -> str | None: ...

    @property
    def serial(self) -> str | None: ...


@dataclass(frozen=True)
class LineProvenance:
    line: int
    gtin: str
    serial: str
    verdict: str  # genuine, unknown, recalled, suspicious, already_sold, rejected
    reason: str
    event_id: str | None = None
    brand_id: str | None = None  # of a genuine item


@dataclass(frozen=True)
class SaleOutcome:
    lines: list[LineProvenance]
    bonuses: tuple[Bonus, ...] = ()

    @property
    def bonus_points(self) -> int:
        return sum(bonus.points for bonus in self.bonuses)


def sale_event(gtin: str, serial: str, sale_ref: str, when: datetime) -> dict[str, object]:
    return {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "retail_selling",
        "disposition": "retail_sold",
        "epcList": [item_key(gtin, serial)],
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "eventTimeZoneOffset": "+00:00",
        "credance:saleRef": sale_ref,
    }


def _seller(session: Session, store_id: str, brand_id: str) -> Organisation:
    """The store's own retailer organisation (same id) if the brand authorised it, else the brand,
    which vouches for sales of its products made through the platform."""
    store_org = session.get(Organisation, store_id)
    if store_org is not None and may_write_for(session, store_org, brand_id, int(OrgRole.RETAILER)):
        return store_org
    brand = session.get(Organisation, brand_id)
    assert brand is not None
    return brand


def _sell_one(
    session: Session, number: int, raw_gtin: str, serial: str, store_id: str, order_id: str, when: datetime
) -> LineProvenance:
    def outcome(verdict: str, reason: str, event_id: str | None = None, brand_id: str | None = None) -> LineProvenance:
        return LineProvenance(number, raw_gtin, serial, verdict, reason, event_id, brand_id)

    try:
        gtin = normalise_gtin(raw_gtin)
    except DomainError as exc:
        return outcome("unknown", exc.message)
    product = session.get(Product, gtin)
    item = find_item(session, gtin, serial) if product else None
    if product is None or item is None:
        return outcome("unknown", "not a registered item")
    recalled = recall_for(session, item)
    seller = _seller(session, store_id, product.brand_id)
    reference = sale_ref(store_id, order_id, gtin, serial)
    event = parse_event(sale_event(gtin, serial, reference, when), NAMESPACE, index=0)
    try:
        with session.begin_nested():  # a refused sale event must not undo the purchase
            captured = capture_events(session, seller, [event])
    except CaptureRejected as rejected:
        rules = {p.rule for p in rejected.problems}
        verdict = "already_sold" if "already_sold" in rules else "rejected"
        return outcome(verdict, "; ".join(p.message for p in rejected.problems))
    event_id = captured[0].event_id
    if recalled is not None:
        return outcome("recalled", f"recalled: {recalled.recall.reason}", event_id=event_id)
    if session.get(MirrorItemBatch, item.batch_root) is None:
        return outcome("unknown", "its registration is not on chain yet", event_id=event_id)
    signals = clone_signals(session, item, get_settings())
    if signals:
        return outcome("suspicious", signals[0], event_id=event_id)
    return outcome("genuine", "registered on chain", event_id, product.brand_id)


def record_sales(
    session: Session,
    store_id: str,
    order_id: str,
    lines: Sequence[SerializedLine],
    bonuses: GenuineBonuses,
    when: datetime | None = None,
) -> SaleOutcome:
    """Mark every serialized line's item sold; the bonuses its genuine items earn under ``bonuses``
    (the genuine-product bonuses of the rules in force)."""
    moment = when or utcnow()
    results = [
        _sell_one(session, number, line.gtin, line.serial, store_id, order_id, moment)
        for number, line in enumerate(lines)
        if line.gtin and line.serial
    ]
    genuine = [
        GenuineItem(normalise_gtin(r.gtin), r.serial, r.brand_id)
        for r in results
        if r.verdict == "genuine" and r.brand_id is not None
    ]
    return SaleOutcome(results, bonuses.award(genuine))
