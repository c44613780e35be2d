"""Query and export: events filtered by item, GTIN, time, business step and location (and traced
through containment and transformation), returned as an EPCIS 2.0 document."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from backend.db.models import EpcisEventEpc, EpcisEventRecord, Organisation, Partnership, Product
from backend.db.types import utcnow
from backend.errors import InvalidQuery, Unprocessable
from backend.provenance.epcis.contexts import STANDARD_CONTEXT, ExportContext, merged, renamed
from backend.provenance.epcis.events import short_term
from backend.provenance.epcis.graph import Reach, trace
from backend.provenance.epcis.identifiers import canonical_uri, identifier_problem, parse_identifier
from backend.provenance.gtin import normalise_gtin

CONTEXT_URL = STANDARD_CONTEXT
MAX_EVENTS = 10_000


@dataclass(frozen=True)
class EventFilter:
    epc: str | None = None
    gtin: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    biz_step: str | None = None
    location: str | None = None
    event_type: str | None = None
    trace: str | None = None  # backward, forward, both
    limit: int = 1000
    after: tuple[datetime, int] | None = None  # the page starts after this (eventTime, id): a page token
    event_id: str | None = None

    def __post_init__(self) -> None:
        if self.trace and not self.epc:
            raise InvalidQuery(f"trace={self.trace} follows one item: give it with epc", field="trace")
        if self.epc is not None:
            epc_key(self.epc)


@dataclass(frozen=True)
class Page:
    """Events of one page, oldest first, and where the next page starts (None: no more events)."""

    records: list[EpcisEventRecord]
    next_token: str | None


_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def epc_key(uri: str) -> str:
    if not _ABSOLUTE_URI.match(uri):
        raise InvalidQuery(
            f"{uri[:80]!r} is not an identifier: give an EPC URI (urn:epc:id:…) or a GS1 Digital Link", field="epc"
        )
    problem = identifier_problem(uri)
    if problem:
        raise Unprocessable(problem, field="epc")
    identifier = parse_identifier(uri)
    return identifier.key if identifier else uri


def page_token(record: EpcisEventRecord) -> str:
    """An opaque token for the page after ``record`` (its eventTime and id: stable while events arrive)."""
    moment = record.event_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return base64.urlsafe_b64encode(f"{moment}|{record.id}".encode()).decode().rstrip("=")


def read_page_token(token: str, field: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        moment, pk = text.split("|")
        return datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC), int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError) as bad:
        raise InvalidQuery("not a page token this server gave", field=field) from bad


def visible_gtins(session: Session, org_id: str) -> set[str]:
    """GTINs an organisation may see events of: its own, and those of brands it works for now (a
    partnership whose roles were revoked, or a suspended partner, shows nothing more)."""
    brands = {org_id}
    viewer = session.get(Organisation, org_id)
    if viewer is not None and viewer.active:
        granted = select(Partnership.brand_id).where(Partnership.partner_id == org_id, Partnership.roles != 0)
        brands |= set(session.exec(granted).all())
    return set(session.exec(select(Product.gtin).where(col(Product.brand_id).in_(brands))).all())


def _keys_with_windows(session: Session, filters: EventFilter) -> list[Reach] | None:
    if filters.epc is None:
        return None
    key = epc_key(filters.epc)
    return trace(session, key, filters.trace) if filters.trace else [Reach(key, "self")]


def find_events(session: Session, filters: EventFilter, viewer_org: str | None) -> list[EpcisEventRecord]:
    """Events matching every filter, oldest first (at most ``limit``)."""
    return find_page(session, filters, viewer_org).records


def find_page(session: Session, filters: EventFilter, viewer_org: str | None) -> Page:
    """Events matching every filter, oldest first, ``limit`` at most, and the token of the next page
    when more match. ``viewer_org`` limits what an organisation sees (None: everything, for admins)."""
    query = select(EpcisEventRecord)
    reached = _keys_with_windows(session, filters)
    if reached is not None:
        keys = sorted({r.key for r in reached})
        query = query.where(
            col(EpcisEventRecord.id).in_(select(EpcisEventEpc.event_pk).where(col(EpcisEventEpc.epc).in_(keys)))
        )
    if filters.gtin:
        gtin = normalise_gtin(filters.gtin)
        query = query.where(
            col(EpcisEventRecord.id).in_(select(EpcisEventEpc.event_pk).where(EpcisEventEpc.gtin == gtin))
        )
    if filters.since:
        query = query.where(col(EpcisEventRecord.event_time) >= filters.since)
    if filters.until:
        query = query.where(col(EpcisEventRecord.event_time) < filters.until)
    if filters.biz_step:
        query = query.where(EpcisEventRecord.biz_step == short_term(filters.biz_step, "BizStep-"))
    if filters.location:
        where = canonical_uri(filters.location)
        query = query.where(or_(col(EpcisEventRecord.read_point) == where, col(EpcisEventRecord.biz_location) == where))
    if filters.event_type:
        query = query.where(EpcisEventRecord.event_type == filters.event_type)
    if filters.event_id:
        query = query.where(EpcisEventRecord.event_id == filters.event_id)
    query = _visible(session, query, viewer_org)
    if filters.after is not None:
        moment, pk = filters.after
        query = query.where(
            or_(
                col(EpcisEventRecord.event_time) > moment,
                (col(EpcisEventRecord.event_time) == moment) & (col(EpcisEventRecord.id) > pk),
            )
        )
    traced = reached is not None and filters.trace
    # A trace keeps only the events in the item's windows (below): it reads past the page to fill it.
    wanted = MAX_EVENTS + 1 if traced else filters.limit + 1
    query = query.order_by(col(EpcisEventRecord.event_time), col(EpcisEventRecord.id)).limit(wanted)
    records = list(session.exec(query).all())
    if reached is not None and traced:
        records = [r for r in records if _in_window(session, r, reached)]
    page, more = records[: filters.limit], len(records) > filters.limit
    return Page(page, page_token(page[-1]) if more and page else None)


def _visible(session: Session, query: Any, viewer_org: str | None) -> Any:
    """``query`` narrowed to what ``viewer_org`` sees: what it wrote, and the events naming its own
    brand's products or those of brands it works for now (None: an admin, everything)."""
    if viewer_org is None:
        return query
    gtins = sorted(visible_gtins(session, viewer_org))
    return query.where(
        or_(
            col(EpcisEventRecord.org_id) == viewer_org,
            col(EpcisEventRecord.id).in_(select(EpcisEventEpc.event_pk).where(col(EpcisEventEpc.gtin).in_(gtins))),
        )
    )


VOCABULARIES = {
    "bizSteps": EpcisEventRecord.biz_step,
    "dispositions": EpcisEventRecord.disposition,
    "bizLocations": EpcisEventRecord.biz_location,
    "readPoints": EpcisEventRecord.read_point,
    "eventTypes": EpcisEventRecord.event_type,
}


def vocabulary(session: Session, name: str, viewer_org: str | None, limit: int) -> list[str]:
    """The distinct values of one of ``VOCABULARIES`` in the events ``viewer_org`` sees, sorted."""
    column = col(VOCABULARIES[name])
    query = _visible(session, select(column).where(column.is_not(None)).distinct(), viewer_org)
    return sorted(str(v) for v in session.exec(query.order_by(column).limit(limit)).all())


def _in_window(session: Session, record: EpcisEventRecord, reached: list[Reach]) -> bool:
    """A container's events count only while the traced item was inside it."""
    named = set(session.exec(select(EpcisEventEpc.epc).where(EpcisEventEpc.event_pk == record.id)).all())
    for reach in reached:
        if (
            reach.key in named
            and (reach.start is None or record.event_time >= reach.start)
            and (reach.end is None or record.event_time <= reach.end)
        ):
            return True
    return False


def export_event(record: EpcisEventRecord) -> dict[str, Any]:
    """The event as captured (its own @context aside: the export gives it, see ``epcis_document``),
    with its eventID, recordTime and, once declared erroneous, its errorDeclaration."""
    body: dict[str, Any] = json.loads(record.body)
    body.pop("@context", None)
    body.setdefault("eventID", record.event_id)
    body["recordTime"] = (
        record.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{record.recorded_at.microsecond // 1000:03d}Z"
    )
    if record.error_declaration is not None:
        body["errorDeclaration"] = json.loads(record.error_declaration)
    return body


def _definitions(record: EpcisEventRecord) -> dict[str, Any]:
    """The event's context beyond the standard one (events captured before contexts were kept:
    their prefixes)."""
    if record.context is not None:
        return merged(json.loads(record.context))
    return dict(json.loads(record.namespaces))


def epcis_document(records: Iterable[EpcisEventRecord], document_id: str) -> dict[str, Any]:
    """An EPCIS 2.0 document (JSON-LD) holding ``records``, each event meaning what it meant when
    captured (contexts.py: a prefix two captures used differently is renamed in one of them, a term
    defined differently goes into the event's own @context). Re-hashing an exported event gives
    its stored hash."""
    shared = ExportContext()
    events = []
    for record in records:
        body = export_event(record)
        renames, own = shared.place(_definitions(record), body)
        body = renamed(body, renames)
        if own:
            body = {"@context": own, **body}
        events.append(body)
    context = shared.document_context()
    now = utcnow()
    return {
        "@context": context,
        "id": document_id,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "epcisBody": {"eventList": events},
    }
