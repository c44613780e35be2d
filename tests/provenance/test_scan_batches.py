"""Scans judged for a whole batch of items at once (``assess_many``, what a batch of verification
answers uses) say exactly what ``assess_scans`` says of each item alone: the same signals, the same
evidence, on scans that exercise every rule (many clients, organisation scans, far-apart places,
scans at the same instant, before the window, after a sale, after decommissioning)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert
from sqlmodel import Session, select

from backend.db.models import Item, Scan
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.provenance.scans import Judged, assess_many, assess_scans, scan_count, scan_counts
from backend.settings import ProvenanceSettings
from tests.provenance.support import FRESH, Api

PLACES = [(48.9, 2.4, "FR"), (35.7, 139.7, "JP"), (40.7, -74.0, "US"), (None, None, None)]


def test_batch_judgement_is_the_single_items_judgement(api: Api) -> None:
    settings = ProvenanceSettings(
        clone_scan_sample=10, clone_max_scans=6, clone_min_clients=2, clone_scans_after_sale=2, clone_scans_per_client=2
    )
    now = utcnow()
    with Session(api.engine) as session:
        items = session.exec(select(Item).where(Item.gtin == FRESH).order_by(Item.serial)).all()
        ids = [item.id for item in items if item.id is not None]
        rows = []
        for n, item_id in enumerate(ids[:4]):  # the fifth item is never scanned
            for k in range(3 + 6 * n):
                lat, lon, country = PLACES[(k + n) % len(PLACES)]
                at = now - timedelta(minutes=k % 3) if k % 5 else now - timedelta(hours=30)  # some outside the window
                rows.append(
                    {
                        "item_id": item_id,
                        "scanned_at": at,
                        "lat": lat,
                        "lon": lon,
                        "country": country,
                        "client": f"c{k % (n + 1)}" if k % 7 else None,
                        "source": "brand" if k == 4 else "anonymous",
                    }
                )
        session.execute(insert(table_of(Scan)), rows)
        session.commit()
        moments = [
            (None, None),
            (now - timedelta(hours=1), None),
            (None, now - timedelta(hours=2)),
            (now - timedelta(minutes=90), now - timedelta(days=2)),
            (None, None),
        ]
        judged = [Judged(item_id, sold, ended) for item_id, (sold, ended) in zip(ids, moments, strict=True)]
        batch = assess_many(session, judged, settings, now=now)
        for item, (sold, ended) in zip(items, moments, strict=True):
            alone = assess_scans(session, item, settings, sold, ended, now=now)
            assert item.id is not None
            assert batch[item.id].view() == alone.view()
            assert batch[item.id].hard_reasons == alone.hard_reasons
        signals = {s["signal"] for a in batch.values() for s in a.view()["signals"]}
        assert {"impossible_travel", "too_often", "after_sale", "after_decommissioning"} <= signals
        assert scan_counts(session, ids) == {i.id: scan_count(session, i) for i in items[:4]}
