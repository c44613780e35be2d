"""Keyset (cursor) pagination, the one way every list is read a page at a time.

A list is ordered by a unique key of its rows (a primary key), so a page never repeats or skips a
row however the table grows between two calls, and reading page 1,000 costs what page 1 costs
(``WHERE key > last ORDER BY key LIMIT n``, on an index; never ``OFFSET``). The cursor is opaque
to clients: the last key shown, as base64url JSON. A malformed one is refused (``Unprocessable``
naming ``cursor``); a forged one only moves the start of a list the caller may read anyway (the
caller's filters and policy still apply). The API's side (query parameters, ``next`` links):
``backend/api/listing.py``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlmodel import Session

from backend.errors import Unprocessable

T = TypeVar("T")
Key = str | int
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CURSOR_FIELD = "cursor"


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
