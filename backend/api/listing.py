"""Lists in the API: the query parameters every list route takes and its answer, ``{"items": [...],
"next": <relative URL of the next page or null>}``, with the same URL in a ``Link: <…>;
rel="next"`` header (RFC 8288). The paging itself (opaque cursors, keyset queries) is
``backend/db/pages.py``; the lists' queries are ``backend/lists.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request, Response

from backend.db.pages import CURSOR_FIELD, DEFAULT_LIMIT, MAX_LIMIT, Page

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page (1 to {MAX_LIMIT}).")]
Cursor = Annotated[
    str | None, Query(max_length=300, description="The `next` of the previous page (opaque); omit for the first.")
]
Search = Annotated[str | None, Query(min_length=1, max_length=100, description="Text the rows contain (any case).")]


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


@dataclass(frozen=True)
class Paging:
    """A list route's page (``limit``, ``cursor``) and its answer: one parameter for what every
    list route takes, instead of the same four in each."""

    request: Request
    response: Response
    limit: int
    cursor: str | None

    def answer(self, page: Page[Any]) -> dict[str, Any]:
        return listed(self.request, self.response, page, page.rows)


def _paging(request: Request, response: Response, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Paging:
    return Paging(request, response, limit, cursor)


PagingDep = Annotated[Paging, Depends(_paging)]
