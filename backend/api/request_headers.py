"""The request's headers as our ASGI middlewares read them: gathered once a request.

Several layers look at a few headers each (the guards: origin, length and key; the fast paths:
key, content type, validators). Each used to scan the header list again; this reads it into a
dictionary once and keeps it in the scope. The first value of a name wins, as in Starlette's
``Headers.get`` (names arrive lower-cased from the server, as ASGI requires).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]

_KEY = "credance.headers"


def request_headers(scope: Scope) -> dict[bytes, bytes]:
    """Every header of the request by name (bytes to bytes), the first of each name."""
    headers: dict[bytes, bytes] | None = scope.get(_KEY)
    if headers is None:
        headers = dict(reversed(scope.get("headers", ())))  # reversed: the first of each name wins
        scope[_KEY] = headers
    return headers


def header(scope: Scope, name: bytes) -> str | None:
    """One header's value as text (latin-1, as HTTP/1.1 carries it), None if absent."""
    value = request_headers(scope).get(name)
    return None if value is None else bytes(value).decode("latin-1")
