"""Verification answers at scan speed: what changes with the provenance data is computed once per
version of that data; what changes with every scan is computed per batch of scans.

An answer (verification.py) has two parts:

- the **static** part: the product, the trail of public events, the proofs, the recall, the
  verdict when it does not rest on scans. It changes only when a table it reads changes, and
  every such change moves ``answer_versions.version`` in the same transaction (database triggers,
  migration ``20261130_pages_…``: whoever writes, API, indexer, CLI or a reconcile repair). A
  static part read in the same snapshot as version *v* is true for as long as the version is *v*;
  for the ``latest`` view it is then also true at every later mirrored block, so an answer built at
  block 40 is served at block 52 saying ``as_of_block: 52`` only if the version read at block 52
  is still *v* (``Point.same_data``). The ``confirmed`` view also depends on which block is
  confirmed: its entries are keyed by it.
- the **scan** part: the item's scan count and what its scans say (scans.py). Each resolution
  records a scan, so it is read afresh for every answer, after this answer's own scan is
  committed: ``tally_batch`` records the scans of a whole batch of requests in one transaction
  (the group-commit writer of the checkout, backend/api/writer.py) and judges each item of the
  batch once, in the same transaction.

The scan signals keep their meaning: the same rows, judged as ``assess_scans`` judges them
(``assess_many`` reads them for a whole batch; tests/provenance/test_scan_batches.py compares them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import Session

from backend.db.models import Item, Organisation, Scan
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.provenance.scans import CoarseLocation, Judged, assess_many, scan_counts, source_of
from backend.provenance.verification import ScanBasis
from backend.settings import ProvenanceSettings

COUNTER = "verification"  # the row of answer_versions the triggers move

_POINT = text(
    "SELECT (SELECT version FROM answer_versions WHERE name = :counter), c.block_number, c.head_block, "
    "c.confirmations FROM (SELECT 1 AS one) AS anchor LEFT JOIN chain_cursor AS c ON c.name = 'indexer'"
)


@dataclass(frozen=True)
class Point:
    """Where the data stood when read: the answer version and the mirrored blocks."""

    version: int
    latest_block: int
    confirmed_block: int

    def same_data(self, other: Point) -> bool:
        return self.version == other.version


def read_point(session: Session) -> Point:
    """The version and the indexer's blocks, in one statement of the caller's transaction."""
    row = session.connection().execute(_POINT, {"counter": COUNTER}).one()
    version, block, head, confirmations = row
    latest = int(block or 0)
    confirmed = max(0, min(latest, int(head or 0) - int(confirmations or 0))) if block is not None else 0
    return Point(int(version or 0), latest, confirmed)


@dataclass(frozen=True)
class ScanRecord:
    """A scan to record: where the client says it is, its network's keyed hash, and the
    organisation whose key signed the request (None: anonymous, or not an organisation key)."""

    where: CoarseLocation
    client: str | None
    org_id: str | None = None


@dataclass(frozen=True)
class ScanJob:
    """One resolution: the item it is about (None: no registered item, only the point is read)
    and the scan to record with it (None: ``scan=false``)."""

    basis: ScanBasis | None
    scan: ScanRecord | None = None


@dataclass(frozen=True)
class Tally:
    """What the batch's transaction saw for one resolution: the point, and the item's scans after
    this resolution's own scan (``total``), judged when the verdict rests on them."""

    point: Point
    total: int | None = None
    signals: dict[str, Any] | None = None
    hard: tuple[str, ...] = ()


@cache
def _insert_scans() -> Any:
    return insert(table_of(Scan))


def _scan_rows(session: Session, jobs: Sequence[ScanJob]) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for job in jobs:
        if job.scan is None or job.basis is None:
            continue
        scan, source = job.scan, "anonymous"
        org = session.get(Organisation, scan.org_id) if scan.org_id is not None else None
        if org is not None:  # who vouches for it: the item's brand, a partner, or anyone
            item = session.get(Item, job.basis.item_id)
            source = source_of(session, item, org).value if item is not None else source
        rows.append(
            {
                "item_id": job.basis.item_id,
                "scanned_at": now,
                "lat": scan.where.lat,
                "lon": scan.where.lon,
                "country": scan.where.country,
                "client": scan.client,
                "source": source,
                "org_id": org.id if org is not None else None,
            }
        )
    return rows


def tally_batch(session: Session, jobs: Sequence[ScanJob], settings: ProvenanceSettings) -> list[Tally]:
    """Record the batch's scans (one statement), then read the point and judge every item of the
    batch at once (``assess_many``: the same judgement as ``assess_scans``, a few statements for
    the whole batch)."""
    rows = _scan_rows(session, jobs)
    if rows:
        session.execute(_insert_scans(), rows)
    point = read_point(session)
    bases = list(dict.fromkeys(job.basis for job in jobs if job.basis is not None))
    judged = [Judged(b.item_id, b.sold_at, b.decommissioned_at) for b in bases if b.judged]
    assessed = assess_many(session, judged, settings)
    counted = [b.item_id for b in bases if not b.judged]
    totals = scan_counts(session, counted) if counted else {}
    tallies: dict[ScanBasis, Tally] = {}
    for basis in bases:
        if basis.judged:
            scans = assessed[basis.item_id]
            tallies[basis] = Tally(point, scans.total, scans.view(), tuple(scans.hard_reasons))
        else:
            tallies[basis] = Tally(point, totals.get(basis.item_id, 0))
    return [Tally(point) if job.basis is None else tallies[job.basis] for job in jobs]
