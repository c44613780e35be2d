"""QR codes (segno: pure Python, no image library): a receipt's code that opens the member's page
at that purchase, and the one-time till code shown as a code the till can scan."""

from __future__ import annotations

import io
from urllib.parse import quote

import segno


def receipt_url(public_url: str, store_id: str, order_id: str) -> str:
    """The member page of one purchase (the member signs in first if they have no session)."""
    return f"{public_url.rstrip('/')}/me/purchases/{quote(store_id, safe='')}/{quote(order_id, safe='')}"


def svg(text: str, scale: int = 4) -> bytes:
    """An SVG image of ``text`` as a QR code (error correction M: a crumpled receipt still scans)."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="svg", scale=scale, border=2, title="QR code", xmldecl=True)
    return buffer.getvalue()


def data_uri(text: str, scale: int = 4) -> str:
    """The same image as a ``data:`` URI (allowed by the pages' policy: ``img-src 'self' data:``)."""
    return str(segno.make(text, error="m").svg_data_uri(scale=scale, border=2))
