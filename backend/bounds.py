"""Nesting limits, checked before anything recurses on untrusted input.

JSON parsers, the JSON Schema validator, the EPCIS event hash and the guards' NUL search all walk
nested arrays and objects recursively. Hostile nesting made them overflow the stack: an EPCIS
extension ~500 levels deep was a 500 (``RecursionError`` in the hash, with a 0.5 MB traceback per
request), and ~1,000 nested arrays around a NUL an anonymous 500 in the request guards. So depth is
measured first, without recursion: on the raw bytes of a body (``json_depth``) and on parsed values
(``value_depth``), and refused with a 4xx naming the limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from backend.errors import Unprocessable

# A JSON string, escapes included (unrolled: no backtracking per character): brackets inside
# strings are text, not structure.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")


class TooDeep(Unprocessable):
    """Input nested deeper than the limit."""

    code = "too_deep"

    def __init__(self, what: str, limit: int, field: str = "body") -> None:
        super().__init__(f"{what} is nested deeper than {limit} levels (the limit)", field=field)
        self.limit = limit


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text ``body`` nests arrays and objects deeper than ``limit``.

    Streams over the bytes once, as a JSON lexer sees them (strings skipped whole), without
    parsing and without recursion. Text that is not JSON is measured the same way: a parser
    that would recurse on it meets the same brackets. The common case (fewer brackets than the
    limit in the whole body) costs two ``bytes.count`` calls."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    structure = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in structure:
        if byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif depth:
            depth -= 1
    return False


def check_json_depth(body: bytes, limit: int, what: str = "the JSON body", field: str = "body") -> None:
    if json_depth_exceeds(body, limit):
        raise TooDeep(what, limit, field)


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        yield from value.values()
    elif isinstance(value, list | tuple):
        yield from value


def value_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether a parsed value (dicts, lists, tuples) nests deeper than ``limit``; a scalar is
    depth 0, ``[]`` depth 1. Iterative: any depth is measured without recursion."""
    stack: list[tuple[Iterator[Any], int]] = [(iter([value]), 0)]
    while stack:
        children, depth = stack[-1]
        child = next(children, _DONE)
        if child is _DONE:
            stack.pop()
            continue
        if isinstance(child, Mapping | list | tuple):
            if depth + 1 > limit:
                return True
            stack.append((_children(child), depth + 1))
    return False


def check_value_depth(value: Any, limit: int, what: str, field: str) -> None:
    if value_depth_exceeds(value, limit):
        raise TooDeep(what, limit, field)


_DONE = object()
