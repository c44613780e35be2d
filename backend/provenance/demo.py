"""A demo history for `make run`: the demo items are made, packed in a case, shipped and received
at the demo store, so the verification page has a timeline to show."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from backend.db.models import Organisation
from backend.db.types import utcnow
from backend.provenance.epcis.capture import capture_events
from backend.provenance.epcis.events import parse_event
from backend.provenance.epcis.identifiers import item_key

FACTORY = "urn:epc:id:sgln:9506000.00001.0"
STORE = "urn:epc:id:sgln:9506000.00099.0"


def seed_history(session: Session, brand: Organisation, gtin: str, serials: list[str], case_serial: str) -> None:
    epcs = [item_key(gtin, s) for s in serials]
    case = f"urn:epc:id:sscc:9506000.{case_serial}"
    start = utcnow() - timedelta(days=3)

    def at(hours: int) -> str:
        return (start + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    common = {"eventTimeZoneOffset": "+00:00"}
    bodies = [
        {
            "type": "ObjectEvent",
            "action": "ADD",
            "bizStep": "commissioning",
            "disposition": "active",
            "epcList": epcs,
            "eventTime": at(0),
            "readPoint": {"id": FACTORY},
            **common,
        },
        {
            "type": "AggregationEvent",
            "action": "ADD",
            "bizStep": "packing",
            "parentID": case,
            "childEPCs": epcs,
            "eventTime": at(1),
            "readPoint": {"id": FACTORY},
            **common,
        },
        {
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "bizStep": "shipping",
            "disposition": "in_transit",
            "epcList": [case],
            "eventTime": at(2),
            "readPoint": {"id": FACTORY},
            **common,
        },
        {
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "bizStep": "receiving",
            "disposition": "in_progress",
            "epcList": [case],
            "eventTime": at(30),
            "bizLocation": {"id": STORE},
            **common,
        },
        {
            "type": "AggregationEvent",
            "action": "DELETE",
            "bizStep": "unpacking",
            "parentID": case,
            "childEPCs": epcs,
            "eventTime": at(31),
            "bizLocation": {"id": STORE},
            **common,
        },
    ]
    capture_events(session, brand, [parse_event(body, {}, index) for index, body in enumerate(bodies)])
