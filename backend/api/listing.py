"""Lists in the API: keyset (cursor) pagination, the one helper every list route uses.

A list is ordered by a unique key of its rows (a primary key), so a page never repeats or skips a
row however the table grows between two calls, and reading page 1,000 costs what page 1 costs
(``WHERE key > last ORDER BY key LIMIT n``, on an index; never ``OFFSET``). The cursor is opaque
to clients: the last key shown, as base64url JSON. A malformed one is refused (422, field
``cursor``); a forged one only moves the start of a list the caller may read anyway (the route's
filters and its policy still apply). ``limit`` is bounded. The answer is ``{"items": [...],
"next": <relative URL of the next page or null>}``, with the same URL in a ``Link: <…>;
rel="next"`` header (RFC 8288).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import Query, Request, Response
from sqlmodel import Session

from backend.errors import Unprocessable

T = TypeVar("T")
Key = str | int
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CURSOR_FIELD = "cursor"

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page (1 to {MAX_LIMIT}).")]
Cursor = Annotated[
    str | None, Query(max_length=300, description="The `next` of the previous page (opaque); omit for the first.")
]
Search = Annotated[str | None, Query(min_length=1, max_length=100, description="Text the rows contain (any case).")]


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    after: str | None  # the cursor of the next page; None on the last page


def encode_cursor(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps([key]).encode()).decode().rstrip("=")


def decode_cursor(text: str, kind: type[Key]) -> Key:
    """The key a cursor holds, of the list's key type (422 naming ``cursor`` otherwise)."""
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = None
    if not (isinstance(value, list) and len(value) == 1 and type(value[0]) is kind):
        raise Unprocessable("cursor is not a cursor of this list: use the `next` link of its last page", CURSOR_FIELD)
    key: Key = value[0]
    return key


def fetch_page(
    session: Session,
    query: Any,  # a select of rows or of tuples (sqlmodel types them apart)
    key: Any,  # a model's column (its attribute)
    key_of: Callable[[Any], Key],
    limit: int,
    cursor: str | None,
    descending: bool = False,
) -> Page[Any]:
    """One page of ``query`` (rows or tuples) ordered by ``key`` (unique), starting after ``cursor``."""
    kind: type[Key] = int if key.type.python_type is int else str
    if cursor is not None:
        after = decode_cursor(cursor, kind)
        query = query.where(key < after if descending else key > after)
    rows: Sequence[Any] = session.exec(query.order_by(key.desc() if descending else key).limit(limit + 1)).all()
    shown = list(rows[:limit])
    return Page(shown, encode_cursor(key_of(shown[-1])) if len(rows) > limit else None)


def contains(column: Any, text: str) -> Any:
    """``column`` contains ``text``, any case, with ``%`` and ``_`` taken literally."""
    return column.icontains(text, autoescape=True)


def next_link(request: Request, after: str | None) -> str | None:
    """The relative URL of the next page: this request's query with the new cursor (relative, so
    no Host header a client sent ever makes its way into a link)."""
    if after is None:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items() if k != CURSOR_FIELD]
    return f"{request.url.path}?{urlencode([*params, (CURSOR_FIELD, after)])}"


def listed(request: Request, response: Response, page: Page[Any], items: list[Any]) -> dict[str, Any]:
    """The list's answer: ``{"items", "next"}`` and the ``Link`` header."""
    link = next_link(request, page.after)
    if link is not None:
        response.headers["Link"] = f'<{link}>; rel="next"'
    return {"items": items, "next": link}
