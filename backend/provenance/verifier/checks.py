"""The verifier's results: a list of named checks, each passed or failed. Anything that goes wrong
while checking (a missing field, a malformed value, a node error) is a failed check: the
verifier fails closed, it never skips what it could not check."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hexbytes import HexBytes


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str = ""


class Malformed(ValueError):
    """The answer lacks a value, or has one of the wrong shape."""


@dataclass
class Checks:
    items: list[Check] = field(default_factory=list)

    def add(self, what: str, ok: bool, detail: str = "") -> bool:
        self.items.append(Check(what, bool(ok), detail))
        return bool(ok)

    def extend(self, checks: list[Check]) -> None:
        self.items.extend(checks)

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # anything at all: a check that could not be made has failed
            self.items.append(Check(what, False, f"could not be checked: {type(exc).__name__}: {exc}"[:400]))

    @property
    def ok(self) -> bool:
        return bool(self.items) and all(c.ok for c in self.items)


def need(mapping: Any, key: str, kind: type | tuple[type, ...] = object) -> Any:
    """``mapping[key]``, which must be there and of ``kind``."""
    if not isinstance(mapping, Mapping) or key not in mapping or mapping[key] is None:
        raise Malformed(f"the answer has no {key!r}")
    value = mapping[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Malformed(f"{key!r} is not a {getattr(kind, '__name__', kind)}")
    return value


def bytes32(value: Any, what: str = "value") -> bytes:
    """A 0x-prefixed 32-byte hex string, strictly."""
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise Malformed(f"{what} {value!r} is not a 32-byte hex value")
    try:
        return bytes(HexBytes(value))
    except ValueError as exc:
        raise Malformed(f"{what} {value!r} is not hex") from exc


def nodes(value: Any, what: str = "merkle_proof") -> list[bytes]:
    if not isinstance(value, list):
        raise Malformed(f"{what} is not a list")
    return [bytes32(node, what) for node in value]
