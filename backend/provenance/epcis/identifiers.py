"""GS1 identifiers in EPCIS: EPC URNs (``urn:epc:id:sgtin:…``), EPC class and pattern URNs, and
GS1 Digital Link URIs, all brought to one form: the *constrained canonical* Digital Link URI
(``https://id.gs1.org/01/{gtin}/21/{serial}``) that the CBV 2.0 event hash uses.

Only the key types EPCIS events carry in practice are converted; anything else (a private URI,
a business transaction id) is left as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from urllib.parse import quote, unquote

from backend.provenance.gtin import check_digit

CANONICAL_HOST = "https://id.gs1.org"
# Characters that GS1 Digital Link percent-encodes although EPC URNs may carry them raw.
_DL_ESCAPES = str.maketrans({"!": "%21", "(": "%28", ")": "%29", "*": "%2A", "+": "%2B", ",": "%2C", ":": "%3A"})
# GS1 AI 82 character set, or a percent-escape, as EPC URNs write serials.
_CHARS = r"(?:%[0-9A-Fa-f]{2}|[!'()*+,\-.0-9:;=A-Z_a-z])"


def _with_check(body: str) -> str:
    return body + str(check_digit(body))


def _dl_text(value: str) -> str:
    return value.translate(_DL_ESCAPES)


@dataclass(frozen=True)
class Identifier:
    """An identifier as written, and what it means."""

    uri: str
    canonical: str
    scheme: str  # sgtin, sscc, sgln, lgtin, gtin (a whole GTIN class), pgln, grai, giai, … or "other"
    gtin: str | None = None
    serial: str | None = None
    lot: str | None = None

    @property
    def is_item(self) -> bool:
        """A serialized trade item (GTIN + serial)."""
        return self.scheme == "sgtin"

    @cached_property  # read many times per capture (index, rules, ownership, public form)
    def key(self) -> str:
        """Key in the event index: items by GTIN and decoded serial, anything else canonically."""
        if self.is_item and self.gtin and self.serial is not None:
            return item_key(self.gtin, self.serial)
        return self.canonical


def _split_key(body: str, total: int) -> tuple[str, str] | None:
    """``prefix.reference`` where the two parts together have ``total`` digits (prefix 6-12)."""
    prefix, _, reference = body.partition(".")
    if not (6 <= len(prefix) <= 12 and prefix.isdigit() and (reference.isdigit() or reference == "")):
        return None
    if len(prefix) + len(reference) != total:
        return None
    return prefix, reference


def _gtin_of(prefix: str, item_reference: str) -> str:
    # The indicator digit leads the item reference in EPC URNs and the GTIN in GS1 keys.
    return _with_check(item_reference[0] + prefix + item_reference[1:])


_URN = re.compile(r"^urn:epc:(id|class|idpat):([a-z]+):(.+)$")


def _from_urn(uri: str) -> Identifier | None:
    match = _URN.match(uri)
    if match is None:
        return None
    family, scheme, body = match.groups()
    parts = body.split(".")
    if family == "id":
        return _from_id_urn(uri, scheme, parts)
    if family == "class" and scheme == "lgtin" and len(parts) >= 3:
        key = _split_key(f"{parts[0]}.{parts[1]}", 13)
        lot = ".".join(parts[2:])
        if key is None or not re.fullmatch(_CHARS + "{1,20}", lot):
            return None
        gtin = _gtin_of(*key)
        return Identifier(uri, f"{CANONICAL_HOST}/01/{gtin}/10/{_dl_text(lot)}", "lgtin", gtin=gtin, lot=unquote(lot))
    if family == "idpat" and parts[-1] == "*":
        return _from_pattern_urn(uri, scheme, parts[:-1])
    return None


def _from_pattern_urn(uri: str, scheme: str, parts: list[str]) -> Identifier | None:
    """EPC pattern URIs name a whole class: ``urn:epc:idpat:sgtin:0614141.107346.*`` is a GTIN."""
    head = ".".join(parts[:2])
    if scheme in ("sgtin", "upui") and len(parts) == 2 and (key := _split_key(head, 13)):
        gtin = _gtin_of(*key)
        return Identifier(uri, f"{CANONICAL_HOST}/01/{gtin}", "gtin", gtin=gtin)
    if scheme == "itip" and len(parts) == 4 and (key := _split_key(head, 13)):
        return Identifier(uri, f"{CANONICAL_HOST}/8006/{_gtin_of(*key)}{parts[2]}{parts[3]}", "itip")
    if scheme == "grai" and len(parts) == 2 and _split_key(head, 12):
        return Identifier(uri, f"{CANONICAL_HOST}/8003/{_with_check('0' + parts[0] + parts[1])}", "grai")
    if scheme in ("gdti", "sgcn") and len(parts) == 2 and _split_key(head, 12):
        ai = "253" if scheme == "gdti" else "255"
        return Identifier(uri, f"{CANONICAL_HOST}/{ai}/{_with_check(parts[0] + parts[1])}", scheme)
    if scheme == "cpi" and len(parts) == 2:
        return Identifier(uri, f"{CANONICAL_HOST}/8010/{parts[0]}{_dl_text(parts[1])}", "cpi")
    return None


def _from_id_urn(uri: str, scheme: str, parts: list[str]) -> Identifier | None:
    head = ".".join(parts[:2])
    rest = ".".join(parts[2:])
    if scheme == "sgtin" and len(parts) >= 3:
        key = _split_key(head, 13)
        if key is None or not re.fullmatch(_CHARS + "{1,20}", rest):
            return None
        gtin = _gtin_of(*key)
        return Identifier(
            uri, f"{CANONICAL_HOST}/01/{gtin}/21/{_dl_text(rest)}", "sgtin", gtin=gtin, serial=unquote(rest)
        )
    if scheme == "sscc" and len(parts) == 2:
        key = _split_key(head, 17)
        if key is None:
            return None
        prefix, reference = key
        return Identifier(uri, f"{CANONICAL_HOST}/00/{_with_check(reference[0] + prefix + reference[1:])}", "sscc")
    if scheme == "sgln" and len(parts) >= 3:
        key = _split_key(head, 12) or (_split_key(parts[0] + ".0", 13) if parts[1] == "" else None)
        if key is None:
            return None
        gln = _with_check(parts[0] + parts[1])
        suffix = "" if rest == "0" else f"/254/{_dl_text(rest)}"
        return Identifier(uri, f"{CANONICAL_HOST}/414/{gln}{suffix}", "sgln")
    if scheme == "pgln" and len(parts) == 2 and _split_key(head + "0", 13) is not None:
        return Identifier(uri, f"{CANONICAL_HOST}/417/{_with_check(parts[0] + parts[1])}", "pgln")
    if scheme == "grai" and len(parts) >= 3 and _split_key(head, 12) is not None:
        return Identifier(
            uri, f"{CANONICAL_HOST}/8003/{_with_check('0' + parts[0] + parts[1])}{_dl_text(rest)}", "grai"
        )
    if scheme == "giai" and len(parts) >= 2:
        return Identifier(uri, f"{CANONICAL_HOST}/8004/{parts[0]}{_dl_text('.'.join(parts[1:]))}", "giai")
    if scheme in ("gsrn", "gsrnp") and len(parts) == 2 and _split_key(head, 17) is not None:
        ai = "8018" if scheme == "gsrn" else "8017"
        return Identifier(uri, f"{CANONICAL_HOST}/{ai}/{_with_check(parts[0] + parts[1])}", scheme)
    if scheme == "gdti" and len(parts) >= 3 and _split_key(head, 12) is not None:
        return Identifier(uri, f"{CANONICAL_HOST}/253/{_with_check(parts[0] + parts[1])}{_dl_text(rest)}", "gdti")
    if scheme == "gsin" and len(parts) == 2 and _split_key(head, 16) is not None:
        return Identifier(uri, f"{CANONICAL_HOST}/402/{_with_check(parts[0] + parts[1])}", "gsin")
    if scheme == "sgcn" and len(parts) == 3 and _split_key(head, 12) is not None and rest.isdigit():
        return Identifier(uri, f"{CANONICAL_HOST}/255/{_with_check(parts[0] + parts[1])}{rest}", "sgcn")
    if scheme == "cpi" and len(parts) >= 3:
        serial = parts[-1]
        return Identifier(
            uri, f"{CANONICAL_HOST}/8010/{parts[0]}{_dl_text('.'.join(parts[1:-1]))}/8011/{serial}", "cpi"
        )
    if scheme == "itip" and len(parts) >= 5 and (key := _split_key(head, 13)):
        serial = ".".join(parts[4:])
        gtin = _gtin_of(*key)
        return Identifier(
            uri,
            f"{CANONICAL_HOST}/8006/{gtin}{parts[2]}{parts[3]}/21/{_dl_text(serial)}",
            "itip",
            gtin=gtin,
            serial=unquote(serial),
        )
    if scheme == "upui" and len(parts) >= 3 and (key := _split_key(head, 13)):
        gtin = _gtin_of(*key)
        return Identifier(uri, f"{CANONICAL_HOST}/01/{gtin}/235/{_dl_text(rest)}", "upui", gtin=gtin)
    if scheme == "ginc" and len(parts) >= 2:
        return Identifier(uri, f"{CANONICAL_HOST}/401/{parts[0]}{_dl_text('.'.join(parts[1:]))}", "ginc")
    return None


# GS1 Digital Link: primary keys and the qualifiers we keep (the most fine-grained level only).
_SHORT_NAMES = {
    "gtin": "01",
    "itip": "8006",
    "cpid": "8010",
    "gln": "414",
    "party": "417",
    "gsrnp": "8017",
    "gsrn": "8018",
    "gcn": "255",
    "sscc": "00",
    "gdti": "253",
    "ginc": "401",
    "gsin": "402",
    "grai": "8003",
    "giai": "8004",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
}
_PRIMARY = {"00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010", "8017", "8018"}
_DL = re.compile(r"^https?://[^/?#]+(?:/[^?#]*)?$")
_SCHEME_OF_AI = {
    "00": "sscc",
    "414": "sgln",
    "417": "pgln",
    "8003": "grai",
    "8004": "giai",
    "253": "gdti",
    "255": "sgcn",
    "401": "ginc",
    "402": "gsin",
    "8006": "itip",
    "8010": "cpi",
    "8017": "gsrnp",
    "8018": "gsrn",
}


def _from_digital_link(uri: str) -> Identifier | None:
    bare = uri.split("#", 1)[0].split("?", 1)[0]
    if not _DL.match(bare):
        return None
    segments = [s for s in bare.split("/")[3:] if s != ""]
    # The primary key may follow a custom path on a custom domain: find it.
    start = next((i for i, s in enumerate(segments[:-1]) if _SHORT_NAMES.get(s, s) in _PRIMARY), None)
    if start is None:
        return None
    path = [_SHORT_NAMES.get(s, s) if i % 2 == 0 else s for i, s in enumerate(segments[start:])]
    if len(path) % 2:
        return None
    pairs = dict(zip(path[0::2], path[1::2], strict=True))
    ai = path[0]
    value = pairs.pop(ai)
    if ai in ("01", "8006"):
        digits = 14 if ai == "01" else 18
        if not value.isdigit() or len(value) not in ((8, 12, 13, 14) if ai == "01" else (18,)):
            return None
        value = value.zfill(digits)
        if int(value[13]) != check_digit(value[:13]):
            return None
        gtin = value[:14]
        if "21" in pairs:
            serial = pairs["21"]
            return Identifier(
                uri,
                f"{CANONICAL_HOST}/{ai}/{value}/21/{serial}",
                "sgtin" if ai == "01" else "itip",
                gtin=gtin,
                serial=unquote(serial),
            )
        if "10" in pairs:
            lot = pairs["10"]
            return Identifier(uri, f"{CANONICAL_HOST}/{ai}/{value}/10/{lot}", "lgtin", gtin=gtin, lot=unquote(lot))
        if "235" in pairs and ai == "01":
            return Identifier(uri, f"{CANONICAL_HOST}/01/{value}/235/{pairs['235']}", "upui", gtin=gtin)
        return Identifier(uri, f"{CANONICAL_HOST}/{ai}/{value}", "gtin", gtin=gtin)
    if ai == "414" and "254" in pairs:
        return Identifier(uri, f"{CANONICAL_HOST}/414/{value}/254/{pairs['254']}", "sgln")
    if ai == "8010" and "8011" in pairs:
        return Identifier(uri, f"{CANONICAL_HOST}/8010/{value}/8011/{pairs['8011']}", "cpi")
    return Identifier(uri, f"{CANONICAL_HOST}/{ai}/{value}", _SCHEME_OF_AI.get(ai, "other"))


# Distinct URIs whose meaning is remembered: a capture reads each identifier several times (the
# event hash, the public form, the index, the rules), and documents name the same places and
# containers again and again. Identifiers are immutable, so sharing one is safe.
PARSED_MEMO = 65_536


@lru_cache(maxsize=PARSED_MEMO)
def parse_identifier(uri: str) -> Identifier | None:
    """The meaning of a GS1 identifier URI, or None if it is not one we recognise."""
    uri = uri.strip()
    if uri.startswith("urn:epc:"):
        return _from_urn(uri)
    if uri.startswith(("http://", "https://")):
        return _from_digital_link(uri)
    return None


def canonical_uri(uri: str) -> str:
    """The constrained canonical GS1 Digital Link URI of a GS1 identifier; other URIs unchanged."""
    identifier = parse_identifier(uri)
    return identifier.canonical if identifier else uri


@lru_cache(maxsize=PARSED_MEMO)
def item_key(gtin: str, serial: str) -> str:
    """The one key of a serialized item in the event index, however the event wrote it (EPC URN or
    Digital Link, escaped or not): a Digital Link URI with the serial percent-encoded one way."""
    return f"{CANONICAL_HOST}/01/{gtin}/21/{quote(serial, safe='')}"


_GTIN_IN_LINK = re.compile(r"/(?:01|gtin)/(\d+)")


@lru_cache(maxsize=PARSED_MEMO)
def identifier_problem(uri: str) -> str | None:
    """Why a URI that claims to be a GS1 identifier is not a valid one (None if it is fine, or if it
    does not claim to be one: EPCIS allows any URI as an identifier)."""
    if uri.startswith("urn:epc:"):
        return None if parse_identifier(uri) else f"{uri!r} is not a valid EPC URI"
    if uri.startswith(("http://", "https://")) and (match := _GTIN_IN_LINK.search(uri)):
        digits = match.group(1)
        if len(digits) not in (8, 12, 13, 14):
            return f"{uri!r}: a GTIN has 8, 12, 13 or 14 digits"
        body = digits.zfill(14)
        if int(body[-1]) != check_digit(body[:-1]):
            return f"{uri!r}: GTIN {digits} has check digit {body[-1]}, expected {check_digit(body[:-1])}"
        return None if parse_identifier(uri) else f"{uri!r} is not a valid GS1 Digital Link URI"
    return None


_LABELS = {"00": "SSCC", "414": "GLN", "417": "party GLN", "8003": "GRAI", "8004": "GIAI", "01": "GTIN"}


def label(uri: str) -> str:
    """A short human name for a GS1 identifier (``GLN 9506000000015``, ``SSCC 0950…``); others as they are."""
    canonical = canonical_uri(uri)
    if not canonical.startswith(CANONICAL_HOST + "/"):
        return uri
    parts = canonical[len(CANONICAL_HOST) + 1 :].split("/")
    name = f"{_LABELS.get(parts[0], 'AI ' + parts[0])} {parts[1]}"
    extras = {"254": "sub-location", "21": "serial", "10": "lot"}
    for ai, value in zip(parts[2::2], parts[3::2], strict=False):
        name += f", {extras.get(ai, 'AI ' + ai)} {unquote(value)}"
    return name
