"""EPCIS capture: a document is accepted whole or not at all.

Checks, in order, each reporting every problem it finds: the official JSON Schema; identifiers
(EPC URIs, Digital Links and their check digits); duplicates (same canonical event hash, or an
eventID reused for other content); that every GTIN is registered and every serialized item too
(wherever the event names it: the public form replaces each by its registered token, and an
instance without one could only be published in clear), and that the writer is authorised by each
GTIN's brand for what the event does; then the business rules, replayed on the history of every
item the document touches (and of the containers and contents linked to them). Only then are the
events (with their public form and salt, public_form.py), their identifier index, the derived
links and the items' statuses written, in the caller's transaction; anchoring on chain follows in
batches.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, NamedTuple

from sqlalchemy import Engine, delete, or_, update
from sqlmodel import Session, col, select

from backend.bounds import value_depth_exceeds
from backend.db.direct import bulk_insert, dialect_of, ident, in_list, list_value, marker, select_rows
from backend.db.engine import session_scope
from backend.db.models import (
    EpcisCapture,
    EpcisEventEpc,
    EpcisEventFacet,
    EpcisEventRecord,
    EpcisLink,
    Item,
    Organisation,
    Partnership,
    Product,
)
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.errors import DomainError
from backend.provenance.epcis import declarations, facets
from backend.provenance.epcis.contexts import context_entries, protected_redefinitions
from backend.provenance.epcis.events import EVENT_TYPES, ParsedEvent, parse_event
from backend.provenance.epcis.hashing import hash_digest, namespaces_of
from backend.provenance.epcis.identifiers import Identifier
from backend.provenance.epcis.problems import Problem, event_field
from backend.provenance.epcis.public_form import Mention, item_token, public_body, public_digest, public_form
from backend.provenance.epcis.public_form import serialized_mentions as mentions_of
from backend.provenance.epcis.replay import COMMISSIONING, DECOMMISSIONING, EpcState, Replay, replay
from backend.provenance.epcis.schema import validate_document
from backend.provenance.items import serial_chunks
from backend.provenance.organisations import get_organisation
from backend.provenance.ownership import Owner, owned_by_gtin, owners
from backend.provenance.roles import OrgRole
from backend.settings import ProvenanceSettings

CHUNK = 500
LIST_CHUNK = 10_000  # values per list parameter of a driver-level query (db/direct.py: one parameter)
ANY_PARTNER = OrgRole.MANUFACTURER | OrgRole.DISTRIBUTOR | OrgRole.RETAILER
# How bad a kind of problem is: the answer's status is that of the worst one.
STATUS = {"unauthorised_writer": 403, "duplicate_event": 409, "duplicate_event_id": 409, "already_declared": 409}


class CaptureRejected(DomainError):
    """The document breaks the schema or the rules: nothing of it was stored."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        statuses = {STATUS.get(p.rule, 422) for p in problems}
        self.status = 403 if 403 in statuses else (409 if 409 in statuses else 422)
        rules = {p.rule for p in problems}
        self.code = next(iter(rules)) if len(rules) == 1 else "epcis_rejected"
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"EPCIS document rejected, nothing stored: {summary}{more}", field=problems[0].field)
        self.problems = list(problems)


class RegisteredItem(NamedTuple):
    id: int
    status: str
    gtin: str
    commitment: str


# The serialized items each new event names anywhere in its hashed fields (by position in the list).
Mentions = list[list[Mention]]


@dataclass(frozen=True)
class Captured:
    event_id: str
    event_hash: str
    event_type: str
    erroneous: bool = False  # captured with an errorDeclaration (of a stored event, or of itself)


_field = event_field


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# -- checks before the rules ---------------------------------------------------------------


def _duplicates(session: Session, events: list[ParsedEvent]) -> list[Problem]:
    problems: list[Problem] = []
    seen_hashes: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    for event in events:
        assert event.index is not None
        where = _field(event.index)
        if event.event_hash in seen_hashes:
            first = seen_hashes[event.event_hash]
            problems.append(Problem(where, "duplicate_event", f"the same event as eventList[{first}]"))
        elif event.event_id in seen_ids:
            first = seen_ids[event.event_id]
            problems.append(Problem(where, "duplicate_event_id", f"its eventID is also used by eventList[{first}]"))
        seen_hashes.setdefault(event.event_hash, event.index)
        seen_ids.setdefault(event.event_id, event.index)
    by_hash = {e.event_hash: e for e in events}
    by_id = {e.event_id: e for e in events}
    table, dialect = table_of(EpcisEventRecord), dialect_of(session)
    columns = ("event_id", "event_hash")
    for chunk in _chunks(list(by_hash), LIST_CHUNK):
        for stored_id, stored_hash in select_rows(
            session, table, columns, in_list(dialect, "event_hash"), [list_value(dialect, chunk)]
        ):
            why = f"this event was already captured (eventID {stored_id}, hash {stored_hash})"
            problems.append(Problem(_field(by_hash[stored_hash].index), "duplicate_event", why))
    for chunk in _chunks(list(by_id), LIST_CHUNK):
        for stored_id, stored_hash in select_rows(
            session, table, columns, in_list(dialect, "event_id"), [list_value(dialect, chunk)]
        ):
            event = by_id[stored_id]
            if stored_hash != event.event_hash:
                problems.append(
                    Problem(
                        _field(event.index),
                        "duplicate_event_id",
                        f"eventID {stored_id} was already used for a different event",
                    )
                )
    return problems


def required_roles(event: ParsedEvent) -> int:
    """Partner roles an owner must have granted for this kind of event, for every identifier it
    names: making or ending things (commissioning, decommissioning, destroying, ADD or DELETE of an
    ObjectEvent, any transformation) needs MANUFACTURER; selling needs RETAILER; anything else
    (packing, shipping, receiving, observing, a disposition such as damaged) any partner role.
    The owner itself needs none."""
    creates_or_ends = event.event_type == "ObjectEvent" and event.action in ("ADD", "DELETE")
    if (
        event.event_type == "TransformationEvent"
        or creates_or_ends
        or event.biz_step in (COMMISSIONING, *DECOMMISSIONING)
    ):
        return int(OrgRole.MANUFACTURER)
    if event.biz_step == "retail_selling":
        return int(OrgRole.RETAILER)
    return int(ANY_PARTNER)


def _authorisation(
    session: Session,
    writer: Organisation,
    events: list[ParsedEvent],
    items: Mapping[str, RegisteredItem],
    mentions: Mentions,
) -> list[Problem]:
    """Every GTIN registered, every serialized item registered, and the writer authorised by the
    owner of every identifier the events name (see backend.provenance.ownership)."""
    if not writer.active:
        return [
            Problem(
                "epcisBody.eventList", "unauthorised_writer", f"{writer.id!r} is suspended: it may not record events"
            )
        ]
    gtins = sorted({g for e in events for g in e.gtins()})
    products = {
        p.gtin: p
        for chunk in _chunks(gtins)
        for p in session.exec(select(Product).where(col(Product.gtin).in_(chunk))).all()
    }
    partners = {
        p.brand_id: p.roles for p in session.exec(select(Partnership).where(Partnership.partner_id == writer.id)).all()
    }
    owned = owners(session, (i for e in events for _, i in e.named()))

    def authorised(owner_id: str, needed: int) -> bool:
        return owner_id == writer.id or bool(partners.get(owner_id, 0) & writer.roles & needed)

    problems: list[Problem] = []
    for event, mentioned in zip(events, mentions, strict=True):
        where = _field(event.index)
        needed = required_roles(event)
        doing = event.biz_step or event.action
        for gtin in sorted(event.gtins()):
            product = products.get(gtin)
            if product is None:
                problems.append(Problem(where, "unknown_gtin", f"GTIN {gtin} is not registered by any brand"))
            elif not authorised(product.brand_id, needed):
                problems.append(
                    Problem(
                        where,
                        "unauthorised_writer",
                        f"{writer.id!r} is not authorised by {product.brand_id!r} to record "
                        f"{doing} events for GTIN {gtin}",
                    )
                )
        for identifier in _others(event):
            owner = owned.get(identifier.key)
            if owner is None:  # first use: the writer becomes its owner
                owned[identifier.key] = Owner(writer.id, "first_use", event.event_id)
            elif not authorised(owner.org_id, needed):
                problems.append(
                    Problem(
                        where,
                        "unauthorised_writer",
                        f"{writer.id!r} is not authorised by {owner.org_id!r} to record {doing} "
                        f"events for {identifier.uri} ({owner.describe()})",
                    )
                )
        for _, identifier in event.named():
            if identifier.is_item and identifier.gtin in products and identifier.key not in items:
                problems.append(
                    Problem(
                        where,
                        "unknown_item",
                        f"{identifier.uri}: serial {identifier.serial!r} is not registered for GTIN {identifier.gtin}",
                    )
                )
        named = {i.key for _, i in event.named()}
        for mention in mentioned:  # outside the EPC roles (ILMD, extensions, sources…): no token without it
            if mention.item is not None and mention.item.key not in named and mention.item.key not in items:
                problems.append(
                    Problem(
                        where,
                        "unknown_item",
                        f"{mention.where}: {mention.text!r} names a serialized item that is not "
                        "registered (the public form could not hide its serial)",
                    )
                )
    return problems


def _others(event: ParsedEvent) -> list[Identifier]:
    """The identifiers of an event that no GTIN owns (containers, assets, locations…), each once."""
    unique = {i.key: i for _, i in event.named() if not owned_by_gtin(i)}
    return list(unique.values())


def _registered_items(
    session: Session,
    events: Iterable[ParsedEvent],
    mentions: Mentions | None = None,
    known: Mapping[str, RegisteredItem] | None = None,
) -> dict[str, RegisteredItem]:
    """Item key → the registered item, for the serialized items the events name (in their EPC
    roles, and wherever ``mentions`` found one); those in ``known`` (read earlier in the same
    transaction) are not read again."""
    named = (i for e in events for _, i in e.named() if i.is_item)
    mentioned = (m.item for found in mentions or [] for m in found if m.item is not None)
    wanted = {i.key: (i.gtin, i.serial) for i in (*named, *mentioned) if i.gtin is not None and i.serial is not None}
    known = known or {}
    found: dict[tuple[str, str], RegisteredItem] = {}
    table, dialect = table_of(Item), dialect_of(session)
    # gtin = ? AND serial IN (one list parameter): an index search on uq_items_gtin_serial.
    where = f"{ident(dialect, 'gtin')} = {marker(dialect)} AND {in_list(dialect, 'serial')}"
    unknown = (pair for key, pair in wanted.items() if key not in known)
    for gtin_of_chunk, serials in serial_chunks(unknown, LIST_CHUNK):
        rows = select_rows(
            session,
            table,
            ("id", "gtin", "serial", "status", "commitment"),
            where,
            [gtin_of_chunk, list_value(dialect, serials)],
        )
        found.update(
            {
                (gtin, serial): RegisteredItem(int(item_id), status, gtin, commitment)
                for item_id, gtin, serial, status, commitment in rows
            }
        )
    return {
        key: known[key] if key in known else found[pair]
        for key, pair in wanted.items()
        if key in known or pair in found
    }


# -- history -------------------------------------------------------------------------------


def component(session: Session, keys: set[str]) -> set[str]:
    """The identifiers linked to ``keys`` by containment, at any time (pallets, cases, items)."""
    seen = set(keys)
    frontier = list(keys)
    links = table_of(EpcisLink)
    while frontier:
        found: set[str] = set()
        for chunk in _chunks(frontier):
            rows = session.execute(
                select(links.c.source, links.c.target).where(
                    links.c.kind == "contains", or_(links.c.source.in_(chunk), links.c.target.in_(chunk))
                )
            ).all()
            found.update(value for row in rows for value in row)
        frontier = list(found - seen)
        seen |= found
    return seen


def stored_event(record: EpcisEventRecord) -> ParsedEvent:
    return _stored(record.id, record.body, record.namespaces, record.event_hash)


def _stored(pk: int | None, body: str, namespaces: str, event_hash: str) -> ParsedEvent:
    event = parse_event(json.loads(body), json.loads(namespaces), known_hash=event_hash)
    event.pk = pk
    return event


def history(session: Session, keys: set[str]) -> list[ParsedEvent]:
    """Every stored event naming one of ``keys`` (in the order of their ids), but those declared
    erroneous: they no longer count."""
    dialect = dialect_of(session)
    pks: set[int] = set()
    for chunk in _chunks(sorted(keys), LIST_CHUNK):
        pks.update(
            pk
            for (pk,) in select_rows(
                session, table_of(EpcisEventEpc), ("event_pk",), in_list(dialect, "epc"), [list_value(dialect, chunk)]
            )
        )
    columns = ("id", "body", "namespaces", "event_hash")
    rows: list[tuple[Any, ...]] = []
    counted = f"{in_list(dialect, 'id')} AND {ident(dialect, 'error_declaration')} IS NULL"
    for chunk in _chunks(sorted(pks), LIST_CHUNK):
        rows += select_rows(session, table_of(EpcisEventRecord), columns, counted, [list_value(dialect, chunk)])
    return [_stored(int(pk), body, namespaces, event_hash) for pk, body, namespaces, event_hash in sorted(rows)]


# -- capture -------------------------------------------------------------------------------


def _too_deep(document: dict[str, Any], limit: int) -> list[Problem]:
    """Events nested deeper than ``limit`` (and a document deeper than its events may make it),
    measured without recursion before the schema validator and the event hash recurse on them."""
    body = document.get("epcisBody")
    events = body.get("eventList") if isinstance(body, dict) else None
    why = f"nested deeper than {limit} levels (CREDANCE_EPCIS_MAX_DEPTH)"
    problems = [
        Problem(_field(index), "too_deep", f"the event is {why}")
        for index, event in enumerate(events if isinstance(events, list) else [])
        if value_depth_exceeds(event, limit)
    ]
    if not problems and value_depth_exceeds(document, limit + 3):  # document, epcisBody, eventList
        problems.append(Problem("document", "too_deep", f"the document is {why}"))
    return problems


def parse_document(document: dict[str, Any], settings: ProvenanceSettings) -> list[ParsedEvent]:
    """Schema-check and parse a document; raise CaptureRejected naming every problem."""
    too_deep = _too_deep(document, settings.epcis_max_depth)
    if too_deep:
        raise CaptureRejected(too_deep)
    problems = [Problem(p.path, "schema", p.message) for p in validate_document(document, settings.schema_path)]
    if problems:
        raise CaptureRejected(problems)
    if document.get("type") != "EPCISDocument":
        raise CaptureRejected(
            [
                Problem(
                    "type",
                    "not_a_document",
                    "capture takes an EPCISDocument (events in "
                    "epcisBody.eventList), not a query document or a bare event",
                )
            ]
        )
    bodies = document["epcisBody"]["eventList"]
    if not bodies:
        raise CaptureRejected([Problem("epcisBody.eventList", "empty", "the document has no events")])
    if len(bodies) > settings.epcis_max_events:
        raise CaptureRejected(
            [Problem("epcisBody.eventList", "too_large", f"at most {settings.epcis_max_events} events per document")]
        )
    context_path = settings.epcis_dir / "epcis-context.jsonld"
    redefined = [
        Problem("@context", "protected_term", why)
        for _, why in protected_redefinitions(document.get("@context"), context_path)
    ]
    redefined += [
        Problem(f"{_field(index)}.@context", "protected_term", why)
        for index, body in enumerate(bodies)
        for _, why in protected_redefinitions(body.get("@context"), context_path)
    ]
    if redefined:
        raise CaptureRejected(redefined)
    namespaces = namespaces_of(document.get("@context"))
    shared = context_entries(document.get("@context"))
    # Every event was measured against epcis_max_depth (≤ MAX_EVENT_DEPTH) above. An event's own
    # @context adds to the document's (JSON-LD scoping), for its hash as for its export.
    events = []
    for index, body in enumerate(bodies):
        own = body.get("@context")
        event = parse_event(body, {**namespaces, **namespaces_of(own)}, index, depth_checked=True)
        event.context = shared + context_entries(own)
        events.append(event)
    latest = utcnow() + timedelta(seconds=settings.epcis_max_future_s)
    future = [
        Problem(
            f"{_field(e.index)}.eventTime",
            "future_event_time",
            f"eventTime {e.time:%Y-%m-%dT%H:%M:%SZ} is in the future (more than "
            f"{settings.epcis_max_future_s} s past the server's clock, CREDANCE_EPCIS_MAX_FUTURE_S)",
        )
        for e in events
        if e.time > latest
    ]
    if future:
        raise CaptureRejected(future)
    return events


@dataclass(frozen=True)
class PreparedDocument:
    """A document checked and parsed without the database (``prepare_document``): what
    ``capture_prepared`` checks against the stored history and stores."""

    events: list[ParsedEvent]
    mentions: list[list[Mention]]  # the serialized instances each event names
    header: str | None  # the standard business document header, as sent
    # The public columns of each event (by ``id``) and the item tokens they were made with
    # (``with_public_forms``): used by the write transaction where its items give the same tokens.
    publics: dict[int, dict[str, str]] | None = None
    tokens: dict[str, str] | None = None


def prepare_document(document: dict[str, Any], settings: ProvenanceSettings) -> PreparedDocument:
    """Everything about a document that needs no database: the schema, the events parsed and
    hashed, the items they name. Most of a capture's CPU time; done before the write transaction,
    so that on SQLite the one write lock is held only for what needs the database."""
    events = parse_document(document, settings)
    mentions = [mentions_of(e.body, e.namespaces, e.depth_checked) for e in events]
    header = json.dumps(header, separators=(",", ":")) if (header := document.get("epcisHeader")) else None
    return PreparedDocument(events, mentions, header)


def with_public_forms(session: Session, prepared: PreparedDocument) -> PreparedDocument:
    """``prepared`` with the public columns of its events, made from the items a read
    transaction sees: rewriting every event for the public is a third of what is left of a
    capture, and needs no write lock. (Nothing is made for a document that will be refused.)"""
    events, mentions = prepared.events, prepared.mentions
    refused = any(e.problems or e.event_type not in EVENT_TYPES for e in events) or any(
        m.item is None for found in mentions for m in found
    )
    if refused:
        return prepared
    tokens = _tokens(_registered_items(session, events, mentions))
    publics = {
        id(e): _public(e, tokens, found)
        for e, found in zip(events, mentions, strict=True)
        if _item_keys(e, found) <= tokens.keys()  # an unknown item: refused in the transaction
    }
    return replace(prepared, publics=publics, tokens=tokens)


def capture_in(
    engine: Engine,
    org_id: str,
    document: dict[str, Any],
    settings: ProvenanceSettings,
    capture_id: str | None = None,
) -> list[Captured]:
    """Capture ``document`` for organisation ``org_id``: checked, parsed and rewritten for the
    public before the write transaction, then checked against the stored history and stored in
    one write transaction. On SQLite the one write lock is held only for what needs it, and the
    API's workers capture side by side."""
    prepared = prepare_document(document, settings)
    with session_scope(engine, write=False) as session:
        prepared = with_public_forms(session, prepared)
    with session_scope(engine) as session:
        return capture_prepared(session, get_organisation(session, org_id), prepared, capture_id)


def capture_document(
    session: Session,
    writer: Organisation,
    document: dict[str, Any],
    settings: ProvenanceSettings,
    capture_id: str | None = None,
) -> list[Captured]:
    """Capture a whole document; it is recorded as capture ``capture_id`` (a new UUID if None),
    with its header (the standard business document header: sender, receiver, instanceIdentifier)."""
    return capture_prepared(session, writer, prepare_document(document, settings), capture_id)


def capture_prepared(
    session: Session, writer: Organisation, prepared: PreparedDocument, capture_id: str | None = None
) -> list[Captured]:
    """``capture_document`` of a prepared document."""
    capture = EpcisCapture(
        id=capture_id or str(uuid.uuid4()),
        org_id=writer.id,
        status="accepted",
        events=len(prepared.events),
        header=prepared.header,
    )
    captured = capture_events(session, writer, prepared.events, capture.id, prepared)
    session.add(capture)
    return captured


def capture_events(
    session: Session,
    writer: Organisation,
    events: list[ParsedEvent],
    capture_id: str | None = None,
    prepared: PreparedDocument | None = None,
) -> list[Captured]:
    """Check parsed new events against everything stored; store them or raise CaptureRejected.
    Declarations of stored events (declarations.py) mark them erroneous instead. ``prepared``:
    what was found of ``events`` before the transaction (``prepare_document``)."""
    problems = [Problem(_field(e.index), "invalid_identifier", p) for e in events for p in e.problems]
    unsupported = [e for e in events if e.event_type not in EVENT_TYPES]
    problems += [
        Problem(_field(e.index), "unsupported_event_type", f"{e.event_type} is not an EPCIS 2.0 event type")
        for e in unsupported
    ]
    # Serialized instances anywhere in the events; those without a token could only be published
    # in clear (an invalid identifier is reported once, above).
    mentions = (
        prepared.mentions
        if prepared is not None
        else [mentions_of(e.body, e.namespaces, e.depth_checked) for e in events]
    )
    problems += [
        Problem(_field(e.index), "unpublishable_identifier", f"{m.where}: {m.text[:120]!r} {m.why}")
        for e, found in zip(events, mentions, strict=True)
        if not e.problems
        for m in found
        if m.item is None
    ]
    items: dict[str, RegisteredItem] = {}
    new, declared = events, list[declarations.Declared]()
    position = {id(e): n for n, e in enumerate(events)}  # events are not hashable; positions are
    new_mentions = mentions
    if not problems:
        new, declared, problems = declarations.split(session, writer, events)
        new_mentions = [mentions[position[id(e)]] for e in new]
        items = _registered_items(session, new, new_mentions)
        problems += _duplicates(session, new) + _authorisation(session, writer, new, items, new_mentions)
    if problems:
        raise CaptureRejected(problems)

    changed = [*new, *(d.event for d in declared)]
    keys = {i.key for e in changed for role, i in e.named() if not role.endswith("class")}
    linked = component(session, keys)
    declared_pks = {d.pk for d in declared}
    past = [e for e in history(session, linked) if e.pk not in declared_pks]
    result = replay([*past, *(e for e in new if e.declaration is None)], focus=linked)
    if result.violations:
        raise CaptureRejected([Problem(_field(v.event_index), v.rule, v.message) for v in result.violations])
    _store(session, writer, new, past, result, items, new_mentions, capture_id, declared, prepared)
    captured = {
        position[id(e)]: Captured(e.event_id, e.event_hash, e.event_type, e.declaration is not None) for e in new
    }
    captured |= {
        position[id(d.event)]: Captured(d.stored_event_id, d.event.event_hash, d.event.event_type, True)
        for d in declared
    }
    return [captured[n] for n in range(len(events))]


def _tokens(items: Mapping[str, RegisteredItem]) -> dict[str, str]:
    """Item key → the item's public token."""
    return {key: item_token(item.gtin, bytes.fromhex(item.commitment[2:])) for key, item in items.items()}


def _public_of(
    event: ParsedEvent, tokens: Mapping[str, str], mentions: list[Mention], early: PreparedDocument | None
) -> dict[str, str]:
    """The public columns made before the transaction, if every item the event names has the
    same token now (an item registered in between, say, has one now and had none then); else
    made again."""
    if early is not None and early.publics is not None and early.tokens is not None:
        made = early.publics.get(id(event))
        if made is not None and all(early.tokens.get(key) == tokens.get(key) for key in _item_keys(event, mentions)):
            return made
    return _public(event, tokens, mentions)


def _item_keys(event: ParsedEvent, mentions: list[Mention]) -> set[str]:
    """The serialized items an event names: in its EPC roles and wherever else they are mentioned."""
    named = {i.key for _, i in event.named() if i.is_item}
    return named | {m.item.key for m in mentions if m.item is not None}


def _public(event: ParsedEvent, tokens: Mapping[str, str], mentions: list[Mention]) -> dict[str, str]:
    """The public columns of a new event: its public body, the hash of its public form, its salt.
    An event that names no serialized item (a case shipped, say) is its own public form: its
    public hash is its CBV digest (unless a declared ``item:`` prefix could make them differ)."""
    body = public_body(event.body, event.namespaces, tokens, mentions=mentions)
    same = not mentions and "item" not in event.namespaces
    form = None if same else public_form(body, event.namespaces, event.depth_checked)
    digest = hash_digest(event.event_hash) if form is None else public_digest(form)
    return {
        "public_body": json.dumps(body, separators=(",", ":")),
        "public_hash": "0x" + digest.hex(),
        "event_salt": "0x" + secrets.token_bytes(32).hex(),
    }


def _store(
    session: Session,
    writer: Organisation,
    events: list[ParsedEvent],
    past: list[ParsedEvent],
    result: Replay,
    items: Mapping[str, RegisteredItem],
    mentions: Mentions,
    capture_id: str | None,
    declared: list[declarations.Declared],
    early: PreparedDocument | None = None,
) -> None:
    now = utcnow()
    tokens = _tokens(items)
    rows = [
        {
            "event_hash": e.event_hash,
            "event_id": e.event_id,
            "event_type": e.event_type,
            "action": e.action,
            "biz_step": e.biz_step,
            "disposition": e.disposition,
            "event_time": e.time,
            "read_point": e.read_point,
            "biz_location": e.biz_location,
            "org_id": writer.id,
            "body": json.dumps(
                {**{k: v for k, v in e.body.items() if k != "@context"}, "eventID": e.event_id}, separators=(",", ":")
            ),
            "namespaces": json.dumps(e.namespaces),
            "recorded_at": now,
            "capture_id": capture_id,
            "context": json.dumps(e.context, separators=(",", ":")) if e.context else None,
            "error_declaration": declarations.declaration_json(e),
            **_public_of(e, tokens, found, early),
        }
        for e, found in zip(events, mentions, strict=True)
    ]
    # Driver-level bulk inserts (db/direct.py: one executemany on SQLite, COPY on PostgreSQL):
    # Core's insertmanyvalues cost more Python per row than the rest of the capture's SQL.
    table = table_of(EpcisEventRecord)
    bulk_insert(session, table, rows)
    dialect = dialect_of(session)
    pk_of = dict(
        select_rows(
            session,
            table,
            ("event_hash", "id"),
            in_list(dialect, "event_hash"),
            [list_value(dialect, [e.event_hash for e in events])],
        )
    )
    for event in events:  # event hashes are unique (the duplicates were refused above)
        event.pk = int(pk_of[event.event_hash])
    epc_rows = {
        (e.pk, i.key, role): {
            "event_pk": e.pk,
            "epc": i.key,
            "role": role,
            "gtin": i.gtin,
            "serial": i.serial,
            "lot": i.lot,
        }
        for e in events
        for role, i in e.named()
    }
    bulk_insert(session, table_of(EpcisEventEpc), list(epc_rows.values()))
    facet_rows = [row for e in events if e.pk is not None for row in facets.facet_rows(e.pk, _facets(e))]
    records = table_of(EpcisEventRecord)
    for one in declared:
        declaration = declarations.declaration_json(one.event)
        session.execute(update(records).where(records.c.id == one.pk).values(error_declaration=declaration))
        facet_rows += facets.facet_rows(one.pk, list(facets.declaration_facets(one.event.declaration)))
    if facet_rows:
        bulk_insert(session, table_of(EpcisEventFacet), facet_rows)
    # Links are derived from the whole history of the component (declared events no longer in it): rebuild them.
    links = table_of(EpcisLink)
    for chunk in _chunks([e.pk for e in past if e.pk is not None] + [d.pk for d in declared]):
        session.execute(delete(links).where(links.c.event_pk.in_(chunk)))
    link_rows = [
        {
            "kind": link.kind,
            "source": link.source,
            "target": link.target,
            "start_time": link.start,
            "end_time": link.end,
            "event_pk": link.event.pk,
        }
        for link in result.links
    ]
    bulk_insert(session, links, link_rows)
    _update_statuses(session, [*past, *events, *(d.event for d in declared)], result, items)


def _facets(event: ParsedEvent) -> list[facets.Facet]:
    return facets.event_facets(event.body, event.namespaces, event.declaration)


def _update_statuses(
    session: Session, events: list[ParsedEvent], result: Replay, known: Mapping[str, RegisteredItem]
) -> None:
    """Each registered item's status as the replay left it (``known``: items read before the
    events were stored, whose status has not changed since); an item named only by events declared
    erroneous is back to registered."""
    registered = {
        k: v
        for k, v in _registered_items(session, events, known=known).items()
        if result.focus is None or k in result.focus
    }
    items = table_of(Item)
    by_status: dict[str, list[int]] = {}
    for key, item in registered.items():
        state = result.states.get(key, EpcState())
        if state.status != item.status:
            by_status.setdefault(state.status, []).append(item.id)
    for status, ids in by_status.items():
        for chunk in _chunks(ids):
            session.execute(update(items).where(items.c.id.in_(chunk)).values(status=status))
