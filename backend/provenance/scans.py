"""Consumer scans and clone detection.

A genuine serial lives in one place at a time and is scanned a handful of times. Copies of its
QR code give themselves away: the same serial scanned in distant places within a short time,
scanned after it was sold (beyond the buyer's own few checks) or decommissioned, or scanned far
too often. Each signal comes with a reason a person can read.

Privacy: a scan stores the time and, if the client offers it, a *coarse* location (rounded to
0.1°, about 10 km) and a country code. No IP address, device id or person is stored, and nothing
about scans goes on chain.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from backend.db.models import Item, Scan
from backend.db.types import utcnow
from backend.errors import Unprocessable
from backend.provenance.settings import ProvenanceSettings

EARTH_RADIUS_KM = 6371.0


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
            return cls()
        try:
            lat_text, lon_text = value.split(",", 1)
            return cls.of(float(lat_text), float(lon_text))
        except ValueError as exc:
            raise Unprocessable("X-Scan-Location is '<lat>,<lon>'", field="X-Scan-Location") from exc


def record_scan(session: Session, item: Item, where: CoarseLocation, now: datetime | None = None) -> Scan:
    scan = Scan(item_id=item.id, scanned_at=now or utcnow(), lat=where.lat, lon=where.lon,  # type: ignore[arg-type]
                country=where.country)  # fmt: skip
    session.add(scan)
    session.flush()
    return scan


def distance_km(a: Scan, b: Scan) -> float:
    """Great-circle distance between two scans with coordinates."""
    assert a.lat is not None
    assert a.lon is not None
    assert b.lat is not None
    assert b.lon is not None
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi, dlambda = phi2 - phi1, math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _where(scan: Scan) -> str:
    return f"near {scan.lat:.1f},{scan.lon:.1f}" if scan.lat is not None else (scan.country or "somewhere")


def _impossible_travel(scans: list[Scan], settings: ProvenanceSettings) -> str | None:
    located = [s for s in scans if s.lat is not None]
    for before, after in itertools.pairwise(located):
        km = distance_km(before, after)
        if km < settings.clone_min_distance_km:
            continue
        hours = max((after.scanned_at - before.scanned_at).total_seconds() / 3600, 1 / 3600)
        if km / hours > settings.clone_max_speed_kmh:
            minutes = round(hours * 60)
            span = f"{minutes} minutes" if minutes >= 2 else "a minute"
            return (f"scanned {km:,.0f} km apart within {span} ({_where(before)} at "
                    f"{before.scanned_at:%Y-%m-%d %H:%M} UTC, then {_where(after)}): copies of this code are in "
                    "circulation")  # fmt: skip
    return None


def _too_often(scans: list[Scan], settings: ProvenanceSettings) -> str | None:
    window = timedelta(hours=settings.clone_window_hours)
    start = 0
    for end, scan in enumerate(scans):
        while scan.scanned_at - scans[start].scanned_at > window:
            start += 1
        if end - start + 1 > settings.clone_max_scans:
            return (f"scanned {end - start + 1} times within {settings.clone_window_hours:g} hours; a genuine item "
                    "is scanned a few times")  # fmt: skip
    return None


def clone_signals(
    session: Session,
    item: Item,
    settings: ProvenanceSettings,
    sold_at: datetime | None = None,
    decommissioned_at: datetime | None = None,
) -> list[str]:
    """Why this serial looks copied (empty: it does not)."""
    scans = list(session.exec(select(Scan).where(Scan.item_id == item.id).order_by(col(Scan.scanned_at))).all())
    reasons = [r for r in (_impossible_travel(scans, settings), _too_often(scans, settings)) if r]
    if decommissioned_at is not None:
        after = [s for s in scans if s.scanned_at > decommissioned_at]
        if after:
            reasons.append(f"scanned {len(after)} time(s) after it was decommissioned on {decommissioned_at:%Y-%m-%d}")
    if sold_at is not None:
        after = [s for s in scans if s.scanned_at > sold_at]
        if len(after) > settings.clone_scans_after_sale:
            reasons.append(f"scanned {len(after)} times since it was sold on {sold_at:%Y-%m-%d}; its buyer "
                           f"would check it a few times at most")  # fmt: skip
    return reasons


def scan_count(session: Session, item: Item) -> int:
    return len(session.exec(select(Scan.id).where(Scan.item_id == item.id)).all())
