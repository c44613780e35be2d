"""GTIN (GS1 Global Trade Item Number) parsing and check digits; GS1 company prefixes as the
registry keys them."""

from __future__ import annotations

import re

from backend.errors import Unprocessable

_DIGITS = re.compile(r"^\d{8}$|^\d{12,14}$")


class InvalidGtin(Unprocessable):
    """Not a GTIN-8/12/13/14, or a wrong check digit."""

    code = "invalid_gtin"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="gtin")


def check_digit(body: str) -> int:
    """GS1 mod-10 check digit of the digits before it (weights 3,1,3,... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def normalise_gtin(value: str) -> str:
    """Return the 14-digit form of a GTIN-8/12/13/14; raise InvalidGtin with the reason."""
    if not _DIGITS.match(value or ""):
        raise InvalidGtin(f"GTIN must have 8, 12, 13 or 14 digits, got {value!r}")
    gtin = value.zfill(14)
    expected = check_digit(gtin[:-1])
    if int(gtin[-1]) != expected:
        raise InvalidGtin(f"GTIN {value} has check digit {gtin[-1]}, expected {expected}")
    return gtin


def gtin_from_int(value: int) -> str:
    return str(value).zfill(14)


def prefix_key(prefix: str) -> int:
    """A GS1 company prefix's key on chain: ``10 ** digits + prefix``, so leading zeros count."""
    return int(10 ** len(prefix)) + int(prefix)


def prefix_of_key(key: int) -> str:
    return str(key)[1:]
