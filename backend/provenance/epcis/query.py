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

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from backend.db.models import EpcisEventEpc, EpcisEventFacet, EpcisEventRecord, Organisation, Partnership, Product
from backend.db.types import utcnow
from backend.errors import InvalidQuery, QueryTooLarge, Unprocessable
from backend.provenance.epcis.contexts import STANDARD_CONTEXT, ExportContext, merged, renamed
from backend.provenance.epcis.events import short_term
from backend.provenance.epcis.graph import Reach, trace
from backend.provenance.epcis.identifiers import canonical_uri, identifier_problem, parse_identifier
from backend.provenance.gtin import normalise_gtin

CONTEXT_URL = STANDARD_CONTEXT
MAX_EVENTS = 10_000


@dataclass(frozen=True)
class ColumnIn:
    """A column of ``epcis_events`` (``COLUMNS``) equal to one of ``values``."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    """Events naming one of ``uris`` (items, classes, or patterns: a whole GTIN) in one of ``roles``."""

    roles: tuple[str, ...]
    uris: tuple[str, ...]
    field: str


@dataclass(frozen=True)
class FacetIn:
    """A facet (facets.py) of the event equal to one of ``values``."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class FacetRange:
    """A numeric facet with one value within every bound (``op`` one of >, >=, <, <=, =)."""

    name: str
    bounds: tuple[tuple[str, float], ...]


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
    after: tuple[datetime, int] | None = None  # the page starts after this (order value, id): a page token
    event_id: str | None = None
    # The standard query language (query_params.py reads it from the binding's parameters):
    where: tuple[ColumnIn, ...] = ()
    matches: tuple[Match, ...] = ()
    facets: tuple[FacetIn, ...] = ()
    ranges: tuple[FacetRange, ...] = ()
    recorded_since: datetime | None = None
    recorded_until: datetime | None = None
    erroneous: bool = False  # only events declared erroneous
    order_by: str = "eventTime"  # or recordTime
    descending: bool = False
    count_limit: int | None = None  # eventCountLimit: the first N events, over every page
    max_count: int | None = None  # maxEventCount: more matches than this is refused
    served: int = 0  # events the earlier pages gave (for count_limit)

    def __post_init__(self) -> None:
        if self.trace and not self.epc:
            raise InvalidQuery(f"trace={self.trace} follows one item: give it with epc", field="trace")
        if self.epc is not None:
            epc_key(self.epc)
        for match in self.matches:
            for uri in match.uris:
                epc_key(uri, match.field)


@dataclass(frozen=True)
class Page:
    """Events of one page, oldest first, and where the next page starts (None: no more events)."""

    records: list[EpcisEventRecord]
    next_token: str | None


_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def epc_key(uri: str, field: str = "epc") -> str:
    if not _ABSOLUTE_URI.match(uri):
        raise InvalidQuery(
            f"{uri[:80]!r} is not an identifier: give an EPC URI (urn:epc:id:…) or a GS1 Digital Link", field=field
        )
    problem = identifier_problem(uri)
    if problem:
        raise Unprocessable(problem, field=field)
    identifier = parse_identifier(uri)
    return identifier.key if identifier else uri


def page_token(record: EpcisEventRecord, order_by: str = "eventTime", served: int = 0) -> str:
    """An opaque token for the page after ``record`` (its order value and id: stable while events
    arrive), with the number of events served so far (for ``eventCountLimit``)."""
    value = record.recorded_at if order_by == "recordTime" else record.event_time
    moment = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return base64.urlsafe_b64encode(f"{moment}|{record.id}|{served}".encode()).decode().rstrip("=")


def read_page_token(token: str, field: str) -> tuple[datetime, int]:
    start, pk, _ = read_page_position(token, field)
    return start, pk


def read_page_position(token: str, field: str) -> tuple[datetime, int, int]:
    """The (order value, id) a page token starts after, and how many events came before it."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        moment, pk, *served = text.split("|")
        if len(served) > 1 or (served and int(served[0]) < 0):
            raise ValueError(text)
        start = datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
        return start, int(pk), int(served[0]) if served else 0
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
    """Events matching every filter, in the filter's order (eventTime ascending unless asked
    otherwise), ``limit`` at most, and the token of the next page when more match. ``viewer_org``
    limits what an organisation sees (None: everything, for admins). Every filter is a condition
    of one SQL query over indexed columns (the trace's windows aside)."""
    reached = _keys_with_windows(session, filters)
    query = _visible(session, _matching(select(EpcisEventRecord), filters, reached), viewer_org)
    if filters.max_count is not None:
        _check_count(session, query, filters.max_count)
    order = col(EpcisEventRecord.recorded_at) if filters.order_by == "recordTime" else col(EpcisEventRecord.event_time)
    pk = col(EpcisEventRecord.id)
    if filters.after is not None:
        moment, last = filters.after
        if filters.descending:
            query = query.where(or_(order < moment, (order == moment) & (pk < last)))
        else:
            query = query.where(or_(order > moment, (order == moment) & (pk > last)))
    limit = filters.limit
    if filters.count_limit is not None:
        limit = max(0, min(limit, filters.count_limit - filters.served))
        if limit == 0:
            return Page([], None)
    traced = reached is not None and filters.trace
    # A trace keeps only the events in the item's windows (below): it reads past the page to fill it.
    wanted = MAX_EVENTS + 1 if traced else limit + 1
    ordering = (order.desc(), pk.desc()) if filters.descending else (order, pk)
    records = list(session.exec(query.order_by(*ordering).limit(wanted)).all())
    if reached is not None and traced:
        records = [r for r in records if _in_window(session, r, reached)]
    page, more = records[:limit], len(records) > limit
    served = filters.served + len(page)
    if filters.count_limit is not None and served >= filters.count_limit:
        more = False
    return Page(page, page_token(page[-1], filters.order_by, served) if more and page else None)


COLUMNS = {
    "event_type": EpcisEventRecord.event_type,
    "action": EpcisEventRecord.action,
    "biz_step": EpcisEventRecord.biz_step,
    "disposition": EpcisEventRecord.disposition,
    "read_point": EpcisEventRecord.read_point,
    "biz_location": EpcisEventRecord.biz_location,
    "event_id": EpcisEventRecord.event_id,
}
COMPARE = {
    "=": lambda c, v: c == v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
}


def _matching(query: Any, filters: EventFilter, reached: list[Reach] | None) -> Any:
    """``query`` narrowed by every filter (the organisation's view aside)."""
    pk = col(EpcisEventRecord.id)
    if reached is not None:
        keys = sorted({r.key for r in reached})
        query = query.where(pk.in_(select(EpcisEventEpc.event_pk).where(col(EpcisEventEpc.epc).in_(keys))))
    if filters.gtin:
        gtin = normalise_gtin(filters.gtin)
        query = query.where(pk.in_(select(EpcisEventEpc.event_pk).where(EpcisEventEpc.gtin == gtin)))
    for column, bound in (
        (EpcisEventRecord.event_time, (filters.since, filters.until)),
        (EpcisEventRecord.recorded_at, (filters.recorded_since, filters.recorded_until)),
    ):
        if bound[0] is not None:
            query = query.where(col(column) >= bound[0])
        if bound[1] is not None:
            query = query.where(col(column) < bound[1])
    if filters.biz_step:
        query = query.where(EpcisEventRecord.biz_step == short_term(filters.biz_step, "BizStep-"))
    if filters.location:
        where = canonical_uri(filters.location)
        query = query.where(or_(col(EpcisEventRecord.read_point) == where, col(EpcisEventRecord.biz_location) == where))
    if filters.event_type:
        query = query.where(EpcisEventRecord.event_type == filters.event_type)
    if filters.event_id:
        query = query.where(EpcisEventRecord.event_id == filters.event_id)
    for condition in filters.where:
        query = query.where(col(COLUMNS[condition.column]).in_(condition.values))
    for match in filters.matches:
        query = query.where(pk.in_(_naming(match)))
    for facet in filters.facets:
        named = select(EpcisEventFacet.event_pk).where(EpcisEventFacet.name == facet.name)
        query = query.where(pk.in_(named.where(col(EpcisEventFacet.value).in_(facet.values))))
    for facet_range in filters.ranges:
        number = col(EpcisEventFacet.number)
        within = [COMPARE[op](number, value) for op, value in facet_range.bounds]
        query = query.where(
            pk.in_(select(EpcisEventFacet.event_pk).where(EpcisEventFacet.name == facet_range.name, *within))
        )
    if filters.erroneous:
        query = query.where(col(EpcisEventRecord.error_declaration).is_not(None))
    return query


def _naming(match: Match) -> Any:
    """The events naming one of the match's identifiers in one of its roles: an item or class by
    its key, a pattern or GTIN-only link (``urn:epc:idpat:sgtin:…*``) by its GTIN."""
    keys, gtins = [], []
    for uri in match.uris:
        identifier = parse_identifier(uri)
        if identifier is not None and identifier.scheme == "gtin" and identifier.gtin:
            gtins.append(identifier.gtin)
        else:
            keys.append(epc_key(uri, match.field))
    named = or_(col(EpcisEventEpc.epc).in_(keys), col(EpcisEventEpc.gtin).in_(gtins))
    return select(EpcisEventEpc.event_pk).where(col(EpcisEventEpc.role).in_(match.roles), named)


def _check_count(session: Session, query: Any, most: int) -> None:
    """maxEventCount: more matching events than ``most`` is a QueryTooLargeException, not a page."""
    found = session.exec(select(func.count()).select_from(query.limit(most + 1).subquery())).one()
    if found > most:
        raise QueryTooLarge(f"maxEventCount: more than {most} events match", field="maxEventCount")


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
