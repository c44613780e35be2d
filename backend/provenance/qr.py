"""QR codes carrying each item's GS1 Digital Link URI, for printing on the product."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import segno
from sqlmodel import Session, col, select

from backend.db.models import Item
from backend.errors import NotFound
from backend.provenance.gtin import normalise_gtin


def digital_link(base_url: str, gtin: str, serial: str) -> str:
    return f"{base_url.rstrip('/')}/01/{gtin}/21/{serial}"


def write_qr_codes(
    session: Session,
    base_url: str,
    gtin: str,
    out: Path,
    lot: str | None = None,
    serials: list[str] | None = None,
    kind: str = "svg",
    scale: int = 4,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """One file per item (``{gtin}_{serial}.{kind}``); NotFound if no registered item matches."""
    code = normalise_gtin(gtin)
    query = select(Item.serial).where(Item.gtin == code)
    if lot:
        query = query.where(Item.lot == lot)
    if serials:
        query = query.where(col(Item.serial).in_(serials))
    found = list(session.exec(query.order_by(col(Item.id))).all())
    if not found:
        raise NotFound(f"no registered item of GTIN {code} matches", field="gtin")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for serial in found:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in serial)
        path = out / f"{code}_{safe}.{kind}"
        segno.make(digital_link(base_url, code, serial), error="m", micro=False).save(str(path), scale=scale)
        written.append(path)
        if progress:
            progress(1)
    return written
