"""EPCIS 2.0 events as captured, their index by identifier, the links they create (containment
and transformation), their on-chain anchor batches, and consumer scans."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.db.types import BigIntId, UTCDateTime, utcnow


class EpcisAnchor(SQLModel, table=True):
    """A Merkle batch of event hashes, anchored on chain by the organisation that wrote them."""

    __tablename__ = "epcis_anchors"

    root: str = Field(primary_key=True, max_length=66)
    org_id: str = Field(foreign_key="organisations.id", max_length=64, index=True)
    count: int
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class EpcisCapture(SQLModel, table=True):
    """One captured document (a capture job of the EPCIS 2.0 REST binding): who sent it, what
    became of it, and its header as sent (the standard business document header: sender,
    receiver, instanceIdentifier), which belongs to the document rather than to any event."""

    __tablename__ = "epcis_captures"

    id: str = Field(primary_key=True, max_length=36, description="The captureID (a UUID).")
    org_id: str = Field(foreign_key="organisations.id", max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(max_length=12, description="accepted or rejected (all or nothing).")
    events: int = 0
    header: str | None = Field(default=None, sa_column=Column(Text, nullable=True), description="epcisHeader (JSON).")
    problems: str | None = Field(default=None, sa_column=Column(Text, nullable=True), description="Why rejected.")


class EpcisEventRecord(SQLModel, table=True):
    """One accepted EPCIS event: the JSON as captured plus the columns queries filter on."""

    __tablename__ = "epcis_events"
    __table_args__ = (
        Index("ix_epcis_events_time", "event_time", "id"),
        Index("ix_epcis_events_unanchored", "anchor_root", "org_id", "id"),
        Index("ix_epcis_events_recorded", "recorded_at", "id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    event_hash: str = Field(max_length=100, unique=True, description="CBV 2.0 event hash (ni URI).")
    event_id: str = Field(max_length=500, unique=True, description="eventID as captured, else the hash.")
    event_type: str = Field(max_length=40)
    action: str | None = Field(default=None, max_length=8)
    biz_step: str | None = Field(default=None, max_length=200, index=True, description="CBV short name or URI.")
    disposition: str | None = Field(default=None, max_length=200)
    event_time: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    read_point: str | None = Field(default=None, max_length=300, index=True, description="Canonical URI.")
    biz_location: str | None = Field(default=None, max_length=300, index=True, description="Canonical URI.")
    org_id: str = Field(foreign_key="organisations.id", max_length=64, index=True, description="Who wrote it.")
    body: str = Field(sa_column=Column(Text, nullable=False), description="The event JSON as captured.")
    namespaces: str = Field(default="{}", sa_column=Column(Text, nullable=False), description="Its prefixes.")
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    # What the public answer shows and the chain binds (backend/provenance/epcis/public_form.py):
    # the body with every serialized item replaced by its token, the SHA-256 of its pre-hash
    # string, and the secret salt of the commitment to the CBV hash. Anchored:
    # keccak256(keccak256(event_salt ‖ cbv digest) ‖ public_hash).
    public_body: str = Field(sa_column=Column(Text, nullable=False), description="Public body (JSON, tokens).")
    public_hash: str = Field(max_length=66, description="0x + sha256 of the public form.")
    event_salt: str = Field(max_length=66, description="0x + 32 secret bytes (partners who read the event get it).")
    anchor_root: str | None = Field(default=None, foreign_key="epcis_anchors.root", max_length=66)
    anchor_proof: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The capture that brought it (epcis_captures.id; no foreign key: adding one would make SQLite
    # rebuild this table, and with it drop the answer-version triggers).
    capture_id: str | None = Field(default=None, max_length=36, index=True)
    # The event's own JSON-LD context beyond the standard one (prefixes and typed term definitions,
    # as captured; None: the standard context alone). Exports give each event this meaning back.
    context: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The EPCIS errorDeclaration (declarationTime, reason, correctiveEventIDs…) once the event was
    # declared erroneous: it stays, linked to its corrections, and no longer counts in the rules.
    error_declaration: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class EpcisEventEpc(SQLModel, table=True):
    """Which identifiers an event names, and in which role (epc, parent, child, input, output,
    class for quantity lists)."""

    __tablename__ = "epcis_event_epcs"
    __table_args__ = (Index("ix_epcis_event_epcs_epc", "epc", "event_pk"),)

    event_pk: int = Field(primary_key=True, sa_type=BigIntId, foreign_key="epcis_events.id")
    epc: str = Field(primary_key=True, max_length=300, description="Item key or canonical URI.")
    role: str = Field(primary_key=True, max_length=12)  # out_class: 9 (8 refused it on PostgreSQL)
    gtin: str | None = Field(default=None, max_length=14, index=True)
    serial: str | None = Field(default=None, max_length=80)
    lot: str | None = Field(default=None, max_length=80)


class EpcisEventFacet(SQLModel, table=True):
    """A field of an event the standard query parameters filter on that has no column of its own
    (backend/provenance/epcis/facets.py names them): its value, or its number (quantities, times)."""

    __tablename__ = "epcis_event_facets"
    __table_args__ = (
        Index("ix_epcis_event_facets_value", "name", "value", "event_pk"),
        Index("ix_epcis_event_facets_number", "name", "number", "event_pk"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    event_pk: int = Field(sa_type=BigIntId, foreign_key="epcis_events.id", index=True)
    name: str = Field(max_length=200)
    value: str = Field(default="", max_length=300)
    number: float | None = None


class NamedEpcisQuery(SQLModel, table=True):
    """A named query of the EPCIS REST binding (``POST /epcis/queries``): its parameters, as the
    organisation that made it gave them; only that organisation reads, runs or deletes it."""

    __tablename__ = "epcis_named_queries"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_epcis_named_queries_org_name"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    org_id: str = Field(foreign_key="organisations.id", max_length=64)
    name: str = Field(max_length=100)
    parameters: str = Field(sa_column=Column(Text, nullable=False), description="JSON: parameter → value.")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class EpcisLink(SQLModel, table=True):
    """A containment (``contains``: parent → child, while it lasted) or transformation
    (``made_into``: input → output) derived from the event history; rebuilt when history changes."""

    __tablename__ = "epcis_links"
    __table_args__ = (
        Index("ix_epcis_links_source", "source", "kind"),
        Index("ix_epcis_links_target", "target", "kind"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    kind: str = Field(max_length=12)
    source: str = Field(max_length=300)
    target: str = Field(max_length=300)
    start_time: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    end_time: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    event_pk: int = Field(sa_type=BigIntId, foreign_key="epcis_events.id", index=True)


class Scan(SQLModel, table=True):
    """A scan of an item's Digital Link. Coarse location only (about 10 km), as the client reported
    it; no IP address, device or person is stored: ``client`` is a keyed hash of the client's
    network (see backend/provenance/scan_clients.py), enough to tell one client repeating itself
    from many distinct ones. ``source`` says who vouches for the scan: ``anonymous``, the item's
    ``brand``, a ``partner`` the brand authorised, or another ``organisation`` (an org key without
    authority over this item, weighed like an anonymous client)."""

    __tablename__ = "scans"
    __table_args__ = (Index("ix_scans_item_time", "item_id", "scanned_at"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    item_id: int = Field(sa_type=BigIntId, foreign_key="items.id")
    scanned_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    lat: float | None = None
    lon: float | None = None
    country: str | None = Field(default=None, max_length=2)
    client: str | None = Field(default=None, max_length=32, description="Keyed hash of the client's network.")
    source: str = Field(default="anonymous", max_length=12, sa_column_kwargs={"server_default": "anonymous"})
    org_id: str | None = Field(default=None, foreign_key="organisations.id", max_length=64)
