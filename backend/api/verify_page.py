"""The verification page's per-answer parts in plain Python: the verdict, the scans and the block line.

Everything else on the page changes only with the provenance data and is rendered once per cached
entry from verify_parts.html (answers.py). These three parts change with every scan, so they are
rendered for every answer, and through Jinja that cost more than all the rest of an HTML answer's
Python work: a macro call builds a context, looks each ``r["key"]`` up through the environment and
wraps each value in a ``Markup``. Here they are f-strings.

The macros ``verdict``, ``scans`` and ``bottom`` of verify_parts.html stay the reference: verify.html
renders the whole page with them, and tests/provenance/test_verify_page.py holds these functions
to their output byte for byte for every shape of the parts (each verdict, one or several reasons,
soft and hard signals, scans by the brand, since a sale, markup in a reason). A wording change is
made in both places; the tests say where one was forgotten.
"""

from __future__ import annotations

import re
from typing import Any

_MARKUP = re.compile(r"[&<>\"']")  # what Jinja's autoescape (markupsafe.escape) replaces

HEADINGS = {
    "authentic": "Genuine product",
    "recalled": "Recalled — do not use",
    "suspicious": "Suspicious — possible copy",
}
UNKNOWN_HEADING = "Not recognised"

_SCANS_NOTE = (
    "Locations are what each phone reports. A verdict changes only on corroborated evidence: the brand's "
    "or its partners' own scans, or at least {} distinct networks; one phone repeating itself counts as one."
)
_PRIVACY = (
    '  <p class="privacy">Scanning records the time, a coarse location (about 10 km) only if your device shares '
    "it, and a keyed hash of your network (never your address) to tell one phone from many when detecting copied "
    "codes. Nothing about you is stored, and nothing about scans goes on chain.</p>\n</main>\n</body>\n</html>\n"
)


def text(value: Any) -> str:
    """``{{ value }}`` under autoescape: the value as text, markup characters as the entities
    markupsafe writes. Text without any (nearly all) is returned after one search; not
    ``str.translate``: with a table of entities it is 50 times slower."""
    shown = str(value)
    if _MARKUP.search(shown) is None:
        return shown
    shown = shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return shown.replace('"', "&#34;").replace("'", "&#39;")


def _opening(kind: str) -> str:
    heading = HEADINGS.get(kind, UNKNOWN_HEADING)
    return f'  <div class="verdict {text(kind)}" data-verdict="{text(kind)}">\n    <h1>{heading}</h1>\n'


_OPENINGS = {kind: _opening(kind) for kind in (*HEADINGS, "unknown")}  # the four verdicts: text of their own


def verdict(r: dict[str, Any]) -> str:
    """The ``verdict`` macro: the verdict's box, with every reason when a suspicious item has several."""
    kind, reasons = r["verdict"], r["reasons"]
    listed = ""
    if kind == "suspicious" and len(reasons) > 1:
        items = "".join([f"<li>{text(why)}</li>" for why in reasons])
        listed = f'\n    <ul class="reasons">{items}</ul>\n    '
    opening = _OPENINGS.get(kind) or _opening(kind)
    return f'{opening}    <div class="reason">{text(r["reason"])}</div>\n    {listed}\n  </div>\n\n'


def scans(r: dict[str, Any]) -> str:
    """The ``scans`` macro: what the item's scans say ("" when its verdict does not rest on them).
    The counts are ints (``ScanAssessment.view``): their text has nothing to escape."""
    sc = r["scan_signals"]
    if not sc:
        return ""
    ev = sc["evidence"]
    w = ev["in_window"]
    by = w["by_source"]
    clients = w["distinct_clients"]
    summary = (
        f"{ev['scans_total']} in all · last {int(ev['window_hours'])} hours: "
        f"{w['scans']} by shoppers from {clients} distinct network(s)"
    )
    if by["brand"] or by["partner"]:
        summary += f", {by['brand'] + by['partner']} by the brand or its partners"
    since = ev["since_sale"]
    if since:
        summary += f" · since the sale: {since['scans']} from {since['distinct_clients']} network(s)"
    signals = "".join(
        [
            f'\n    <div class="signal {strength}" data-strength="{strength}">'
            f"{'Unconfirmed report: ' if s['strength'] == 'soft' else ''}{text(s['reason'])}</div>\n    "
            for s in sc["signals"]
            for strength in (text(s["strength"]),)
        ]
    )
    return (
        f'\n  <section class="scans" data-distinct-clients="{clients}">\n    <h2>Scans of this code</h2>\n'
        f'    <div class="muted">{summary}</div>\n    {signals}\n'
        f'    <div class="muted">{_SCANS_NOTE.format(sc["rules"]["min_clients"])}</div>\n  </section>\n'
    )


def bottom(r: dict[str, Any]) -> str:
    """The ``bottom`` macro: the block the answer stands on, the JSON link, the privacy note."""
    return (
        f'  <p class="muted">Verified by Credance against block {r["as_of_block"]}. '
        f'<a href="?format=json&amp;scan=false">JSON</a></p>\n{_PRIVACY}'
    )
