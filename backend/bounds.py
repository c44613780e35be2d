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
from collections.abc import Mapping
from typing import Any

from backend.errors import Unprocessable

# The EPCIS canonical form recurses into extensions and ILMD: deeper events are refused before it
# starts (capture refuses them earlier, at CREDANCE_EPCIS_MAX_DEPTH), so no event can overflow it.
MAX_EVENT_DEPTH = 100

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


_CONTAINERS = (dict, list, tuple)


def value_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether a parsed value (dicts, lists, tuples) nests deeper than ``limit``; a scalar is
    depth 0, ``[]`` depth 1. Iterative: any depth is measured without recursion. (It runs on
    every captured event several times: plain types are tested first, the ABC only after.)"""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        kind = type(node)
        if kind is dict or (kind not in _CONTAINERS and isinstance(node, Mapping)):
            children: Any = node.values()
        elif kind is list or kind is tuple or isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth + 1 > limit:
            return True
        for child in children:
            if type(child) in _CONTAINERS or isinstance(child, Mapping | list | tuple):
                stack.append((child, depth + 1))
    return False


def check_value_depth(value: Any, limit: int, what: str, field: str) -> None:
    if value_depth_exceeds(value, limit):
        raise TooDeep(what, limit, field)
