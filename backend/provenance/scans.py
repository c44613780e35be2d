"""Scans and clone detection that resists spoofing.

A genuine serial lives in one place at a time and is scanned a handful of times. Copies of its
QR code give themselves away: the same serial scanned in distant places within a short time,
scanned after it was sold (beyond the buyer's own checks) or decommissioned, or scanned far too
often. But a scan's location is whatever the client says, and anybody can send two requests
with far-apart coordinates: evidence that one anonymous client can fabricate must never turn a
genuine item into a "suspicious" one. So every signal is weighed by who stands behind it:

- **hard** signals make the verdict ``suspicious``. They need corroboration: a place is
  corroborated by a scan of the item's brand or of a partner the brand authorised (an
  organisation key: accountable), or by ``clone_min_clients`` distinct client networks (see
  ``scan_clients``); a rate counts each client's first ``clone_scans_per_client`` scans only,
  so one client repeating itself is one client. A scan after the item was decommissioned is
  hard on its own: decommissioning is an authorised write, so it cannot be used against a
  live item.
- **soft** signals (the same patterns without corroboration) are shown with the evidence, and
  leave the verdict alone.

Privacy: a scan stores its time, a *coarse* location (rounded to 0.1°, about 10 km) and country
if the client offers them, a keyed hash of the client's network, and the organisation for a
scan made with an organisation key. No IP address, device id or person is stored, and nothing
about scans goes on chain.

Cost: recording a scan is one insert; judging is five indexed queries over the item's scans,
with the impossible-travel search bounded by ``clone_scan_sample`` scans.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func
from sqlalchemy import select as rows_of
from sqlmodel import Session, col, select

from backend.db.models import Item, Organisation, PassportChallenge, PassportClaim, Product, Scan
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.errors import Unprocessable
from backend.provenance.organisations import may_write_for
from backend.provenance.roles import OrgRole
from backend.settings import ProvenanceSettings

EARTH_RADIUS_KM = 6371.0
MAX_PLACES = 64  # distinct places weighed for impossible travel (bounds the work an attacker can cause)
UNKNOWN_CLIENT = "unknown"  # scans recorded before clients were: together, one client
ANY_ROLE = int(OrgRole.BRAND | OrgRole.MANUFACTURER | OrgRole.DISTRIBUTOR | OrgRole.RETAILER)


class Source(StrEnum):
    """Who vouches for a scan."""

    ANONYMOUS = "anonymous"
    BRAND = "brand"  # the item's brand, with its organisation key
    PARTNER = "partner"  # an organisation the brand authorised for its products
    ORGANISATION = "organisation"  # an organisation key without authority over this item


ATTESTING = frozenset({Source.BRAND, Source.PARTNER})
# As answers show them, listed once: an enum's ``.value`` and its iteration run Python code, and
# ``view`` runs for every judged item of every batch of scans.
SOURCE_NAMES = tuple(s.value for s in Source)
ATTESTING_NAMES = tuple(sorted(s.value for s in ATTESTING))


@dataclass(frozen=True)
class CoarseLocation:
    lat: float | None = None
    lon: float | None = None
    country: str | None = None

    @classmethod
    def of(cls, lat: float | None, lon: float | None, country: str | None = None) -> CoarseLocation:
        """Validate and coarsen what the client sent (both coordinates or neither)."""
        if (lat is None) != (lon is None):
            raise Unprocessable("send both lat and lon, or neither", field="lat" if lat is None else "lon")
        if lat is not None and not -90 <= lat <= 90:
            raise Unprocessable("lat must be between -90 and 90", field="lat")
        if lon is not None and not -180 <= lon <= 180:
            raise Unprocessable("lon must be between -180 and 180", field="lon")
        if country is not None and not (len(country) == 2 and country.isalpha()):
            raise Unprocessable("country is a two-letter ISO 3166 code", field="country")
        return cls(
            None if lat is None else round(lat, 1),
            None if lon is None else round(lon, 1),
            country.upper() if country else None,
        )

    @classmethod
    def parse_header(cls, value: str | None) -> CoarseLocation:
        """``X-Scan-Location: <lat>,<lon>`` (a client that knows where it is may send it)."""
        if not value:
            return NOWHERE if cls is CoarseLocation else cls()
        try:
            lat_text, lon_text = value.split(",", 1)
            return cls.of(float(lat_text), float(lon_text))
        except ValueError as exc:
            raise Unprocessable("X-Scan-Location is '<lat>,<lon>'", field="X-Scan-Location") from exc


NOWHERE = CoarseLocation()  # most scans say nothing of where they are: one shared (frozen) value


@dataclass(frozen=True)
class ScanContext:
    """One scan as the resolver saw it: where the client says it is, the client's network hash,
    and the organisation whose key signed the request, if any."""

    where: CoarseLocation = field(default_factory=CoarseLocation)
    client: str | None = None
    org: Organisation | None = None


def source_of(session: Session, item: Item, org: Organisation | None) -> Source:
    """How much a scan by ``org`` (None: anonymous) counts for this item."""
    if org is None:
        return Source.ANONYMOUS
    product = session.get(Product, item.gtin)
    if product is not None and org.active:
        if org.id == product.brand_id:
            return Source.BRAND
        if may_write_for(session, org, product.brand_id, ANY_ROLE):
            return Source.PARTNER
    return Source.ORGANISATION


def record_scan(session: Session, item: Item, scan: ScanContext, now: datetime | None = None) -> Scan:
    where = scan.where
    assert item.id is not None  # a stored item
    row = Scan(
        item_id=item.id,
        scanned_at=now or utcnow(),
        lat=where.lat,
        lon=where.lon,
        country=where.country,
        client=scan.client,
        source=source_of(session, item, scan.org).value,
        org_id=scan.org.id if scan.org else None,
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class Signal:
    """A pattern in the scans: ``hard`` ones make the verdict suspicious, soft ones are shown."""

    signal: str  # impossible_travel, too_often, after_sale, after_decommissioning, ownership_disputed
    hard: bool
    reason: str

    def view(self) -> dict[str, Any]:
        return {"signal": self.signal, "strength": "hard" if self.hard else "soft", "reason": self.reason}


@dataclass(frozen=True)
class ClientCounts:
    """Scans of a period by client: how many, how many distinct clients, how many count."""

    scans: int = 0
    clients: int = 0
    counted: int = 0  # each client's first `clone_scans_per_client` scans
    by_source: dict[str, int] = field(default_factory=dict)
    located: int = 0

    def view(self) -> dict[str, Any]:
        return {"scans": self.scans, "distinct_clients": self.clients, "counted": self.counted}


@dataclass(frozen=True)
class ScanAssessment:
    signals: list[Signal]
    total: int
    window: ClientCounts
    since_sale: ClientCounts | None
    since_decommissioning: int | None
    settings: ProvenanceSettings

    @property
    def hard_reasons(self) -> list[str]:
        return [s.reason for s in self.signals if s.hard]

    def view(self) -> dict[str, Any]:
        """The evidence, as the answer and the page show it."""
        p = self.settings
        return {
            "signals": [s.view() for s in self.signals],
            "evidence": {
                "scans_total": self.total,
                "window_hours": p.clone_window_hours,
                "in_window": {
                    **self.window.view(),
                    "located": self.window.located,
                    "by_source": {name: self.window.by_source.get(name, 0) for name in SOURCE_NAMES},
                },
                "since_sale": self.since_sale.view() if self.since_sale else None,
                "since_decommissioning": self.since_decommissioning,
            },
            "rules": {
                "min_clients": p.clone_min_clients,
                "counted_per_client": p.clone_scans_per_client,
                "attesting_sources": list(ATTESTING_NAMES),
            },
        }


def distance_km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Great-circle distance between two points."""
    phi1, phi2 = math.radians(a_lat), math.radians(b_lat)
    dphi, dlambda = phi2 - phi1, math.radians(b_lon - a_lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _client(scan: Located) -> str:
    return scan.client or UNKNOWN_CLIENT


def _counts(rows: Iterable[tuple[str | None, str, int, int]], per_client: int) -> ClientCounts:
    """Fold ``(client, source, scans, located)`` groups; attesting sources are shown but not
    counted (a brand checking its stock is not a consumer)."""
    by_source: dict[str, int] = {}
    per: dict[str, int] = {}
    located = 0
    for client, source, scans, with_location in rows:
        by_source[source] = by_source.get(source, 0) + scans
        located += with_location
        if source not in ATTESTING:
            key = client or UNKNOWN_CLIENT
            per[key] = per.get(key, 0) + scans
    counted = sum(min(n, per_client) for n in per.values())
    return ClientCounts(sum(per.values()), len(per), counted, by_source, located)


def _grouped(session: Session, item_id: int, after: datetime, per_client: int) -> ClientCounts:
    rows = session.exec(
        select(Scan.client, Scan.source, func.count(), func.count(col(Scan.lat)))
        .where(Scan.item_id == item_id, col(Scan.scanned_at) > after)
        .group_by(col(Scan.client), col(Scan.source))
    ).all()
    return _counts(rows, per_client)


class Located(NamedTuple):
    """A scan with a location, as impossible travel weighs it."""

    lat: float
    lon: float
    scanned_at: datetime
    source: str
    client: str | None


@dataclass
class _Place:
    """Scans within ``radius`` of the first one seen there (scans in time order)."""

    lat: float
    lon: float
    scans: list[Located]

    def times(self) -> list[float]:
        return [s.scanned_at.timestamp() for s in self.scans]

    def clients(self) -> set[str]:
        return {_client(s) for s in self.scans if s.source not in ATTESTING}

    def backers(self, other: _Place) -> tuple[bool, set[str]]:
        """Whether an accountable organisation vouches for this place, and which distinct clients
        do (a client that also reported the other place contradicts itself: it backs neither)."""
        return any(s.source in ATTESTING for s in self.scans), self.clients() - other.clients()

    def label(self) -> str:
        return f"near {self.lat:.1f},{self.lon:.1f}"


def _places(scans: Sequence[Located], radius_km: float) -> list[_Place]:
    places: list[_Place] = []
    for scan in scans:
        home = next((p for p in places if distance_km(p.lat, p.lon, scan.lat, scan.lon) < radius_km), None)
        if home is not None:
            home.scans.append(scan)
        elif len(places) < MAX_PLACES:
            places.append(_Place(scan.lat, scan.lon, [scan]))
    return places


def _closest_in_time(a: list[float], b: list[float]) -> tuple[float, float]:
    """The pair of moments (one of ``a``, one of ``b``, both sorted) closest together."""
    best = (a[0], b[0])
    for moment in a:
        at = bisect.bisect_left(b, moment)
        for other in b[max(at - 1, 0) : at + 1]:
            if abs(other - moment) < abs(best[1] - best[0]):
                best = (moment, other)
    return best


def _backing(attested: bool, clients: set[str]) -> str:
    return "an authorised organisation's scan" if attested else f"{len(clients)} distinct network(s)"


def _impossible_travel(scans: Sequence[Located], p: ProvenanceSettings) -> Signal | None:
    places = _places(scans, p.clone_min_distance_km / 2)
    soft: Signal | None = None
    for i, one in enumerate(places):
        for two in places[i + 1 :]:
            km = distance_km(one.lat, one.lon, two.lat, two.lon)
            if km < p.clone_min_distance_km:
                continue
            first, second = _closest_in_time(one.times(), two.times())
            hours = max(abs(second - first) / 3600, 1 / 3600)
            if km / hours <= p.clone_max_speed_kmh:
                continue
            minutes = round(hours * 60)
            span = f"{minutes} minutes" if minutes >= 2 else "a minute"
            (a_attested, a_clients), (b_attested, b_clients) = one.backers(two), two.backers(one)
            corroborated = all(
                attested or len(clients) >= p.clone_min_clients
                for attested, clients in ((a_attested, a_clients), (b_attested, b_clients))
            )
            seen = f"{km:,.0f} km apart within {span} ({one.label()}, then {two.label()})"
            if corroborated:
                return Signal(
                    "impossible_travel",
                    True,
                    f"scanned {seen}, each place confirmed by "
                    f"{_backing(a_attested, a_clients)} and {_backing(b_attested, b_clients)}: copies of "
                    "this code are in circulation",
                )
            both = len(one.clients() & two.clients())
            contradicting = f"; {both} client(s) reported both places and count for neither" if both else ""
            soft = soft or Signal(
                "impossible_travel",
                False,
                f"reported {seen}, but not corroborated: backed by "
                f"{_backing(a_attested, a_clients)} and {_backing(b_attested, b_clients)}, where "
                f"each place needs {p.clone_min_clients} or an authorised organisation's scan"
                f"{contradicting}; self-reported locations alone do not make a verdict",
            )
    return soft


def _too_often(window: ClientCounts, p: ProvenanceSettings) -> Signal | None:
    if window.scans <= p.clone_max_scans:
        return None
    seen = f"scanned {window.scans} times within {p.clone_window_hours:g} hours by {window.clients} distinct network(s)"
    if window.counted > p.clone_max_scans and window.clients >= p.clone_min_clients:
        return Signal("too_often", True, f"{seen}; a genuine item is scanned a few times")
    return Signal(
        "too_often",
        False,
        f"{seen}; repeated scans of one client count {p.clone_scans_per_client} times "
        "at most, so this alone does not make a verdict",
    )


def _after_sale(since: ClientCounts, sold_at: datetime, p: ProvenanceSettings) -> Signal | None:
    if since.scans <= p.clone_scans_after_sale:
        return None
    seen = f"scanned {since.scans} times by {since.clients} distinct network(s) since it was sold on {sold_at:%Y-%m-%d}"
    if since.counted > p.clone_scans_after_sale and since.clients >= p.clone_min_clients:
        return Signal("after_sale", True, f"{seen}; its buyer would check it a few times at most")
    return Signal("after_sale", False, f"{seen}; the buyer checking it again is not evidence of a copy")


def _scans() -> Any:
    return table_of(Scan)


def _located_columns() -> tuple[Any, ...]:
    c = _scans().c
    return (c.lat, c.lon, c.scanned_at, c.source, c.client)


def _located(session: Session, item_id: int, since: datetime, sample: int) -> list[Located]:
    """The item's latest ``sample`` located scans after ``since``, oldest first."""
    c = _scans().c
    rows = session.execute(
        rows_of(*_located_columns())
        .where(c.item_id == item_id, c.scanned_at > since, c.lat.is_not(None))
        .order_by(c.scanned_at.desc(), c.id.desc())
        .limit(sample)
    ).all()
    return [Located(*row) for row in reversed(rows)]


def _after(session: Session, item_id: int, moment: datetime) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(Scan).where(Scan.item_id == item_id, col(Scan.scanned_at) > moment)
        ).one()
    )


def _disputed_ownership(session: Session, item_id: int, since: datetime) -> Signal | None:
    """Wallets that signed a challenge of the item's passport without holding it, in the window:
    someone believes they own this item and cannot prove it, as the holder of a second physical
    item claiming the same passport would. Soft: a wallet costs nothing to make, so anyone can
    produce such attempts against a genuine item (one indexed query, for sold items only)."""
    wallets = session.exec(
        select(func.count(func.distinct(PassportChallenge.signer)))
        .join(PassportClaim, col(PassportClaim.token_id) == col(PassportChallenge.token_id))
        .where(
            PassportClaim.item_id == item_id,
            col(PassportChallenge.used_at) > since,
            col(PassportChallenge.proved).is_(False),
        )
    ).one()
    if not wallets:
        return None
    return Signal(
        "ownership_disputed",
        False,
        f"{wallets} wallet(s) that do not hold its passport signed to prove they own it in the window",
    )


def _judge(
    session: Session,
    item_id: int,
    p: ProvenanceSettings,
    total: int,
    window: ClientCounts,
    located: list[Located],
    sold_at: datetime | None,
    decommissioned_at: datetime | None,
    since: datetime,
) -> ScanAssessment:
    """The signals, from the counts read for the item (the sale, passport and decommissioning ones
    are read here: only sold or decommissioned items need them)."""
    signals = [s for s in (_impossible_travel(located, p), _too_often(window, p)) if s]
    after_sale = None
    if sold_at is not None:
        after_sale = _grouped(session, item_id, sold_at, p.clone_scans_per_client)
        signal = _after_sale(after_sale, sold_at, p)
        signals += [signal] if signal else []
        disputed = _disputed_ownership(session, item_id, since)
        signals += [disputed] if disputed else []
    after_end = None
    if decommissioned_at is not None:
        after_end = _after(session, item_id, decommissioned_at)
        if after_end:
            signals.append(
                Signal(
                    "after_decommissioning",
                    True,
                    f"scanned {after_end} time(s) after it was decommissioned on {decommissioned_at:%Y-%m-%d}",
                )
            )
    signals.sort(key=lambda s: not s.hard)  # hard ones first: the first is the verdict's reason
    return ScanAssessment(signals, total, window, after_sale, after_end, p)


def assess_scans(
    session: Session,
    item: Item,
    settings: ProvenanceSettings,
    sold_at: datetime | None = None,
    decommissioned_at: datetime | None = None,
    now: datetime | None = None,
) -> ScanAssessment:
    """What the item's scans say, with the evidence behind it."""
    p = settings
    assert item.id is not None
    since = (now or utcnow()) - timedelta(hours=p.clone_window_hours)
    total = session.exec(select(func.count()).select_from(Scan).where(Scan.item_id == item.id)).one()
    window = _grouped(session, item.id, since, p.clone_scans_per_client)
    # (no located scan in the window: none to load)
    located = _located(session, item.id, since, p.clone_scan_sample) if window.located else []
    return _judge(session, item.id, p, int(total), window, located, sold_at, decommissioned_at, since)


@dataclass(frozen=True)
class Judged:
    """An item to judge with ``assess_many``: its id and the moments its signals depend on."""

    item_id: int
    sold_at: datetime | None = None
    decommissioned_at: datetime | None = None


class BatchStatements(NamedTuple):
    totals: Any  # each item's number of scans (``ids``)
    groups: Any  # the window's scans by item, client and source (``ids``, ``since``)
    located: Any  # each item's latest ``sample`` located scans in the window (``ids``, ``since``, ``sample``)


@cache
def _batch_statements() -> BatchStatements:
    """``assess_many``'s statements, built once with their values as parameters: a batch of scans
    then costs their execution, not the construction of three statements (and a subquery)."""
    c = _scans().c
    ids: Any = bindparam("ids", expanding=True)
    since: Any = bindparam("since")
    rank = func.row_number().over(partition_by=c.item_id, order_by=(c.scanned_at.desc(), c.id.desc()))
    ranked = (
        rows_of(c.item_id, *_located_columns(), rank.label("rank"))
        .where(c.item_id.in_(ids), c.scanned_at > since, c.lat.is_not(None))
        .subquery()
    )
    r = ranked.c
    return BatchStatements(
        totals=rows_of(c.item_id, func.count()).where(c.item_id.in_(ids)).group_by(c.item_id),
        groups=rows_of(c.item_id, c.client, c.source, func.count(), func.count(c.lat))
        .where(c.item_id.in_(ids), c.scanned_at > since)
        .group_by(c.item_id, c.client, c.source),
        located=rows_of(r.item_id, r.lat, r.lon, r.scanned_at, r.source, r.client)
        .where(r.rank <= bindparam("sample"))
        .order_by(r.item_id, r.rank.desc()),
    )


def assess_many(
    session: Session, items: Sequence[Judged], settings: ProvenanceSettings, now: datetime | None = None
) -> dict[int, ScanAssessment]:
    """``assess_scans`` for many items at once, the same answer for each: the totals, the window's
    groups and the located samples of all of them in three statements (a scan resolution judges a
    whole batch of items in one transaction, backend/provenance/answers.py)."""
    if not items:
        return {}
    p = settings
    since = (now or utcnow()) - timedelta(hours=p.clone_window_hours)
    ids = sorted({i.item_id for i in items})
    statements = _batch_statements()
    totals: dict[int, int] = dict(session.execute(statements.totals, {"ids": ids}).all())
    groups: dict[int, list[tuple[str | None, str, int, int]]] = {}
    for item_id, client, source, scans, with_location in session.execute(
        statements.groups, {"ids": ids, "since": since}
    ).all():
        groups.setdefault(item_id, []).append((client, source, scans, with_location))
    windows = {i: _counts(groups.get(i, []), p.clone_scans_per_client) for i in ids}
    located: dict[int, list[Located]] = {}
    with_location = [i for i in ids if windows[i].located]
    if with_location:  # each item's latest clone_scan_sample located scans (a window function)
        rows = session.execute(
            statements.located, {"ids": with_location, "since": since, "sample": p.clone_scan_sample}
        ).all()
        for item_id, *scan in rows:
            located.setdefault(item_id, []).append(Located(*scan))
    return {
        i.item_id: _judge(
            session,
            i.item_id,
            p,
            totals.get(i.item_id, 0),
            windows[i.item_id],
            located.get(i.item_id, []),
            i.sold_at,
            i.decommissioned_at,
            since,
        )
        for i in items
    }


def clone_signals(
    session: Session,
    item: Item,
    settings: ProvenanceSettings,
    sold_at: datetime | None = None,
    decommissioned_at: datetime | None = None,
) -> list[str]:
    """Why this serial looks copied, on corroborated evidence only (empty: it does not)."""
    return assess_scans(session, item, settings, sold_at, decommissioned_at).hard_reasons


def scan_counts(session: Session, item_ids: Sequence[int]) -> dict[int, int]:
    """Each item's number of scans (items never scanned are left out)."""
    rows = session.execute(_batch_statements().totals, {"ids": list(item_ids)})
    return {int(item_id): int(count) for item_id, count in rows.all()}


def scan_count(session: Session, item: Item) -> int:
    return int(session.exec(select(func.count()).select_from(Scan).where(Scan.item_id == item.id)).one())
