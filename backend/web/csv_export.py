"""CSV export of the console's lists and reports: one helper for all of them.

Every page of a list (through the list's own cursor, so an export shows exactly what the pages
show, to the same person), at most ``MOST_ROWS`` rows; cells a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) are written with a leading
apostrophe, so a member's name cannot become a formula in the admin's spreadsheet (OWASP "CSV
injection")."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

from backend.db.pages import Page
from backend.errors import Unprocessable

MOST_ROWS = 100_000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def every_row(fetch: Callable[[str | None], Page[Any]]) -> list[dict[str, Any]]:
    """Every row of a list, page after page (``fetch(cursor)``)."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        rows += page.rows
        if len(rows) > MOST_ROWS:
            raise Unprocessable(f"more than {MOST_ROWS} rows: narrow the search", field="q")
        if page.after is None:
            return rows
        cursor = page.after


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV with a header line (the first row's keys); empty for no rows."""
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(list(rows[0]))
    writer.writerows([_cell(v) for v in row.values()] for row in rows)
    return out.getvalue()
