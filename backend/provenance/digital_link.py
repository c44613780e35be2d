"""GS1 Digital Link URIs naming trade items, in every form a resolver meets (GS1 Digital Link
standard 1.2, URI syntax): ``/01/{gtin}``, with the key qualifiers in GS1's order
(``/22/{cpv}``, ``/10/{lot}``, ``/21/{serial}``, each optional, never out of order), the
alphabetic short names (``/gtin/…/lot/…/ser/…``), and compressed links (one path segment, GS1's
binary compression, decompressed by ``gs1-compression``). A malformed link is an
``InvalidDigitalLink`` (400) naming the part at fault and what is wrong with it: a space in a
serial is a space, not a length.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from gs1 import decompress_gs1_digital_link

from backend.errors import DomainError
from backend.provenance.gtin import InvalidGtin, normalise_gtin

# GTIN's key qualifiers, in the order a Digital Link must give them (GS1 Digital Link 1.2 §4.6).
QUALIFIERS = ("22", "10", "21")
NAMES = {"22": "consumer product variant", "10": "lot", "21": "serial"}
FIELDS = {"22": "cpv", "10": "lot", "21": "serial"}
SHORT_NAMES = {"gtin": "01", "cpv": "22", "lot": "10", "ser": "21"}
# GS1 AI encodable character set 82 (GS1 General Specifications figure 7.11-1), up to 20 of them.
CSET_82 = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
MAX_LENGTH = 20
# A value that is plainly valid (every character in the set, not too long): one C-level match.
_PLAINLY_VALID = re.compile(f"[{re.escape(''.join(sorted(CSET_82)))}]{{1,{MAX_LENGTH}}}")
_COMPRESSED = re.compile(r"^[A-Za-z0-9_-]{6,200}$")
# gs1-compression logs every segment that fails to decompress, with a stack trace, on a logger it
# names "__name__": any path a client sends would fill the logs. Its failures are answered (404).
logging.getLogger("__name__").disabled = True


class InvalidDigitalLink(DomainError):
    status = 400
    code = "invalid_digital_link"


class NotCompressed(DomainError):
    """A path segment that does not decompress: nothing is there (it may never have been a link)."""

    status = 404
    code = "not_found"


@dataclass(frozen=True)
class DigitalLink:
    gtin: str  # GTIN-14
    cpv: str | None = None
    lot: str | None = None
    serial: str | None = None

    def path(self) -> str:
        """The canonical path: numeric AIs, qualifiers in GS1's order."""
        text = f"/01/{self.gtin}"
        for ai, value in (("22", self.cpv), ("10", self.lot), ("21", self.serial)):
            if value is not None:
                text += f"/{ai}/{value}"
        return text


def _char_problem(ai: str, value: str) -> str | None:
    if _PLAINLY_VALID.fullmatch(value):
        return None
    what = f"the {NAMES[ai]} (AI {ai})"
    if not value:
        return f"{what} is empty"
    for position, char in enumerate(value, start=1):
        if char not in CSET_82:
            shown = "a space" if char == " " else repr(char)
            return (
                f"{what} {value!r} contains {shown} at position {position}: GS1 allows only the letters, "
                "digits and the symbols !\"%&'()*+,-./:;<=>?_ (character set 82)"
            )
    if len(value) > MAX_LENGTH:
        return f"{what} {value!r} is {len(value)} characters long: at most {MAX_LENGTH}"
    return None


def check_qualifier(ai: str, value: str) -> str:
    problem = _char_problem(ai, value)
    if problem:
        raise InvalidDigitalLink(problem, field=FIELDS[ai])
    return value


@lru_cache(maxsize=4096)  # a few products are scanned many times: their check digit once
def parse_gtin(raw: str) -> str:
    try:
        return normalise_gtin(raw)
    except InvalidGtin as exc:
        raise InvalidDigitalLink(str(exc), field="gtin") from exc


def parse_path(path: str) -> DigitalLink:
    """A Digital Link path (``/01/…`` or short names, percent-encoded as sent) of a trade item."""
    segments = [unquote(s) for s in path.strip("/").split("/")]
    if len(segments) % 2:
        raise InvalidDigitalLink(
            f"{path!r}: a Digital Link path is pairs of an AI and its value (/01/{{gtin}}/10/{{lot}}/21/{{serial}})",
            field="path",
        )
    pairs = [(SHORT_NAMES.get(ai, ai), value) for ai, value in zip(segments[::2], segments[1::2], strict=True)]
    (primary, gtin), qualifiers = pairs[0], pairs[1:]
    if primary != "01":
        raise InvalidDigitalLink(f"AI {primary} is not a GTIN (01): only trade items resolve here", field="path")
    values: dict[str, str] = {}
    last = -1
    for ai, value in qualifiers:
        if ai not in QUALIFIERS:
            raise InvalidDigitalLink(
                f"AI {ai} is not a key qualifier of a GTIN: the path takes 22 (consumer product variant), "
                "10 (lot) and 21 (serial); data attributes such as 17 (expiry) go in the query string",
                field="path",
            )
        if ai in values:
            raise InvalidDigitalLink(f"AI {ai} ({NAMES[ai]}) appears twice", field=FIELDS[ai])
        if QUALIFIERS.index(ai) < last:
            raise InvalidDigitalLink(
                f"the key qualifiers are out of order: GS1 Digital Link puts 22 (consumer product variant), "
                f"then 10 (lot), then 21 (serial); {ai} came after {QUALIFIERS[last]}",
                field="path",
            )
        last = QUALIFIERS.index(ai)
        values[ai] = check_qualifier(ai, value)
    return DigitalLink(parse_gtin(gtin), values.get("22"), values.get("10"), values.get("21"))


def is_compressed(segment: str) -> bool:
    return bool(_COMPRESSED.match(segment))


def decompress(segment: str) -> DigitalLink:
    """The link a compressed Digital Link (one base64url path segment) stands for."""
    try:
        full = decompress_gs1_digital_link(f"https://id.gs1.org/{segment}", use_short_text=False)
    except Exception as exc:  # third-party code on any segment a client sends: whatever it raises, no link
        raise NotCompressed(
            f"nothing at /{segment[:40]}: not a page, nor a compressed GS1 Digital Link (it does not decompress)",
            field="path",
        ) from exc
    parts = urlsplit(str(full))
    return parse_path(parts.path)
