"""The EPCIS event hash of CBV 2.0 (section 8.9): a canonical *pre-hash string* of the event,
hashed with SHA-256 and written as an RFC 6920 ``ni`` URI: ``ni:///sha-256;<hex>?ver=CBV2.0``.

The same event gives the same hash whatever its serialisation (key order, EPC URN or Digital
Link, bare or full CBV terms, time zone), and any change to its content changes the hash. The
canonical form follows the GS1 reference implementation where the text of the standard leaves a
choice (type before value in business transactions, sources and destinations; those lists, the
ILMD and the user extensions sorted together at the end).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from backend.bounds import MAX_EVENT_DEPTH, check_value_depth
from backend.provenance.epcis.identifiers import canonical_uri

CBV = "https://ref.gs1.org/cbv/"
VERSION = "CBV2.0"
# Fields that never enter the hash: the event's own id, when it was recorded, its JSON-LD
# context, comments, and the error declaration (a later correction of the event).
IGNORED = frozenset({"eventID", "recordTime", "type", "errorDeclaration", "@context", "rdfs:comment", "comment"})
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList")
# Canonical order of the standard fields (CBV 2.0 §8.9.2, as the reference implementation orders them).
ORDER = (
    "eventTime",
    "eventTimeZoneOffset",
    "certificationInfo",
    "parentID",
    "epcList",
    "inputEPCList",
    "childEPCs",
    *QUANTITY_LISTS,
    "outputEPCList",
    "outputQuantityList",
    "action",
    "transformationID",
    "bizStep",
    "disposition",
    "persistentDisposition",
    "readPoint",
    "bizLocation",
    "sensorElementList",
)
EPC_LISTS = frozenset({"epcList", "inputEPCList", "childEPCs", "outputEPCList"})
GS1_VOC = "https://gs1.org/voc/"
# Where each CBV-valued field's bare short names live (the official context gives these fields
# ``"@type": "@vocab"`` and a term per short name: ``latitude`` → ``cbv:Comp-latitude``;
# tests/unit/test_epcis_cbv_terms.py holds this table to the official context). A bare value is
# hashed as its full IRI, so ``latitude`` and ``https://ref.gs1.org/cbv/Comp-latitude`` are one event.
VOCABULARY_OF_FIELD = {
    ("bizStep",): CBV + "BizStep-",
    ("disposition",): CBV + "Disp-",
    ("persistentDisposition",): CBV + "Disp-",
    ("bizTransactionList", "type"): CBV + "BTT-",
    ("sourceList", "type"): CBV + "SDT-",
    ("destinationList", "type"): CBV + "SDT-",
    ("sensorElementList", "sensorReport", "type"): GS1_VOC,
    ("sensorElementList", "sensorReport", "exception"): GS1_VOC,
    ("sensorElementList", "sensorReport", "component"): CBV + "Comp-",
    ("errorDeclaration", "reason"): CBV + "ER-",
}
VOCABULARY = {
    "bizStep": VOCABULARY_OF_FIELD[("bizStep",)],
    "disposition": VOCABULARY_OF_FIELD[("disposition",)],
    "set": VOCABULARY_OF_FIELD[("persistentDisposition",)],
    "unset": VOCABULARY_OF_FIELD[("persistentDisposition",)],
}
TYPED_LISTS = {
    "bizTransactionList": ("bizTransaction", VOCABULARY_OF_FIELD[("bizTransactionList", "type")]),
    "sourceList": ("source", VOCABULARY_OF_FIELD[("sourceList", "type")]),
    "destinationList": ("destination", VOCABULARY_OF_FIELD[("destinationList", "type")]),
}
SENSOR_REPORT_VOCABULARY = {
    path[-1]: base for path, base in VOCABULARY_OF_FIELD.items() if path[:2] == ("sensorElementList", "sensorReport")
}
SENSOR_METADATA = (
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
)
SENSOR_REPORT = (
    "type",
    "exception",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "time",
    "microorganism",
    "chemicalSubstance",
    "value",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
    "uom",
    "coordinateReferenceSystem",
)
STANDARD_PREFIXES = {"gs1": GS1_VOC, "cbv": CBV, "epcis": "https://ref.gs1.org/epcis/"}
_URN_VOCABULARY = (
    ("urn:epcglobal:cbv:bizstep:", "BizStep-"),
    ("urn:epcglobal:cbv:disp:", "Disp-"),
    ("urn:epcglobal:cbv:btt:", "BTT-"),
    ("urn:epcglobal:cbv:sdt:", "SDT-"),
    ("urn:epcglobal:cbv:er:", "ER-"),
)
_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)


def namespaces_of(context: Any) -> dict[str, str]:
    """Prefixes a document's inline ``@context`` defines (e.g. ``{"example": "http://…/"}``)."""
    found: dict[str, str] = {}
    for entry in context if isinstance(context, list) else [context]:
        if isinstance(entry, Mapping):
            found.update({k: v for k, v in entry.items() if isinstance(v, str) and not k.startswith("@")})
    return found


@lru_cache(maxsize=65_536)  # pure; stored events' times come back with every replay of their items
def normalise_time(value: str) -> str:
    """UTC, millisecond precision, 'Z': ``2005-04-03T20:33:31.116000-06:00`` → ``2005-04-04T02:33:31.116Z``.
    A fourth decimal of 5-9 rounds the milliseconds up."""
    match = _TIME.match(value.strip())
    if match is None:
        return value.strip()
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    # Already UTC with nothing to round: only pad (years below 1000 are written as strftime does).
    if zone in ("Z", "z") and len(fraction or "") <= 3 and year[0] != "0":
        return f"{year}-{month}-{day}T{hour}:{minute}:{second}.{(fraction or '').ljust(3, '0')}Z"
    fraction = (fraction or "").ljust(4, "0")
    millis = int(fraction[:3]) + (1 if fraction[3] >= "5" else 0)
    moment += timedelta(milliseconds=millis)
    if zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_NUMBER_STARTS = frozenset("+-.iInN")  # besides digits, what float() accepts first (sign, point, inf, nan)


def _number(text: str) -> str:
    """Numbers without trailing zeros (``1.0`` → ``1``); other text unchanged."""
    if not text or not (text[0].isdigit() or text[0] in _NUMBER_STARTS) or ":" in text:
        return text  # float() would refuse it (it is called on every value: raising costs; "+00:00")
    try:
        number = float(text)
    except ValueError:
        return text
    if number != number or number in (float("inf"), float("-inf")):
        return text
    return str(int(number)) if number == int(number) else str(number)


class _Canon:
    """Canonical text of keys and values, given the document's namespace prefixes. Values that
    match ``verbatim`` are copied as they are (the tokens of the public form, public_form.py)."""

    def __init__(self, namespaces: Mapping[str, str], verbatim: re.Pattern[str] | None = None) -> None:
        self.namespaces = {**STANDARD_PREFIXES, **namespaces}
        self.verbatim = verbatim

    def key(self, key: str) -> str:
        prefix, sep, local = key.partition(":")
        if sep and prefix in self.namespaces and not local.startswith("//"):
            return "{" + self.namespaces[prefix] + "}" + local
        return key

    def value(self, raw: Any, vocabulary: str | None = None) -> str:
        text = ("true" if raw else "false") if isinstance(raw, bool) else str(raw).strip()
        if self.verbatim is not None and self.verbatim.fullmatch(text):
            return text
        if vocabulary and text and ":" not in text:
            return vocabulary + text
        for urn, term in _URN_VOCABULARY:
            if text.startswith(urn):
                return CBV + term + text[len(urn) :]
        prefix, sep, local = text.partition(":")
        if sep and prefix in self.namespaces and not local.startswith("//"):
            return self.namespaces[prefix] + local
        text = _number(text)
        return canonical_uri(text) if text.startswith(("urn:epc:", "http://", "https://")) else text

    def pair(self, key: str, raw: Any, vocabulary: str | None = None) -> str:
        if "time" in key.lower() and "offset" not in key.lower():
            return f"{key}={normalise_time(str(raw))}"
        text = self.value(raw, vocabulary)
        return f"{key}={text}" if text else ""

    def generic(self, key: str, raw: Any) -> list[str]:
        """Any field outside the standard order (ILMD, user extensions): ``{ns}name=value``,
        nested fields sorted inside their parent; a list gives one entry per element."""
        name = self.key(key)
        if isinstance(raw, list):
            return [entry for item in raw for entry in self.generic(key, item)]
        if isinstance(raw, Mapping):
            inner = sorted(entry for k, v in raw.items() if k not in IGNORED for entry in self.generic(k, v))
            return [name + "".join(inner)]
        text = self.value(raw)
        return [f"{name}={text}" if text else name]


def _sorted_join(parts: Iterable[str]) -> str:
    return "".join(sorted(p for p in parts if p))


def _quantity(canon: _Canon, element: Mapping[str, Any]) -> str:
    fields = "".join(canon.pair(k, element[k]) for k in ("epcClass", "quantity", "uom") if k in element)
    return "quantityElement" + fields if fields else ""


def _sensor_element(canon: _Canon, element: Mapping[str, Any]) -> str:
    text = ""
    metadata = element.get("sensorMetadata")
    if isinstance(metadata, Mapping):
        text += "sensorMetadata" + _ordered(canon, metadata, SENSOR_METADATA)
    reports = element.get("sensorReport") or []
    text += _sorted_join("sensorReport" + _ordered(canon, r, SENSOR_REPORT, SENSOR_REPORT_VOCABULARY) for r in reports)
    extensions = {k: v for k, v in element.items() if k not in ("sensorMetadata", "sensorReport")}
    return "sensorElement" + text + _sorted_join(e for k, v in extensions.items() for e in canon.generic(k, v))


def _ordered(
    canon: _Canon, fields: Mapping[str, Any], order: tuple[str, ...], vocabularies: Mapping[str, str] | None = None
) -> str:
    """Fields in a fixed order (bare terms of ``vocabularies`` fields expanded), then any extension
    fields inside them, sorted."""
    text = ""
    for name in order:
        if name in fields:
            text += canon.pair(name, fields[name], (vocabularies or {}).get(name))
    extensions = [e for k, v in fields.items() if k not in order for e in canon.generic(k, v)]
    return text + _sorted_join(extensions)


def _standard_field(canon: _Canon, name: str, value: Any) -> str:
    if name in EPC_LISTS:
        return name + _sorted_join(canon.pair("epc", epc) for epc in value)
    if name in (*QUANTITY_LISTS, "outputQuantityList"):
        return name + _sorted_join(_quantity(canon, q) for q in value)
    if name == "persistentDisposition":
        return name + "".join(
            _sorted_join(canon.pair(part, d, VOCABULARY[part]) for d in value.get(part, []))
            for part in ("set", "unset")
        )
    if name in ("readPoint", "bizLocation"):
        return name + _ordered(canon, value, ("id",))
    if name == "sensorElementList":
        return name + _sorted_join(_sensor_element(canon, e) for e in value)
    if name == "certificationInfo" and isinstance(value, list):
        return _sorted_join(canon.pair(name, v) for v in value)
    return canon.pair(name, value, VOCABULARY.get(name))


def _typed_list(canon: _Canon, name: str, value: list[Mapping[str, Any]]) -> str:
    field, vocabulary = TYPED_LISTS[name]
    entries = []
    for entry in value:
        typed = canon.pair("type", entry["type"], vocabulary) if "type" in entry else ""
        entries.append(typed + canon.pair(field, entry.get(field, "")))
    return name + _sorted_join(entries)


def pre_hash_string(
    event: Mapping[str, Any],
    namespaces: Mapping[str, str] | None = None,
    verbatim: re.Pattern[str] | None = None,
    depth_checked: bool = False,
) -> str:
    """The canonical pre-hash string of one EPCIS 2.0 JSON-LD event (``TooDeep``, a 422, for an
    event nested deeper than ``MAX_EVENT_DEPTH``; ``depth_checked``: the caller measured it against
    that limit or a lower one already). Values matching ``verbatim`` are not rewritten."""
    if not depth_checked:
        check_value_depth(event, MAX_EVENT_DEPTH, "the event", "event")
    canon = _Canon(namespaces or {}, verbatim)
    text = "eventType=" + str(event.get("type", ""))
    for name in ORDER:
        if name in event and event[name] not in (None, [], {}):
            text += _standard_field(canon, name, event[name])
    rest = []
    for name, value in event.items():
        if name in IGNORED or name in ORDER:
            continue
        if name in TYPED_LISTS and isinstance(value, list):
            rest.append(_typed_list(canon, name, value))
        elif name == "ilmd" and isinstance(value, Mapping):
            rest.append("ilmd" + _sorted_join(e for k, v in value.items() for e in canon.generic(k, v)))
        else:
            rest.extend(canon.generic(name, value))
    return text + _sorted_join(rest)


def value_canoniser(namespaces: Mapping[str, str]) -> Callable[[Any], str]:
    """How the pre-hash string writes a plain value of an event with these prefixes: a prefix
    expanded, a CBV URN as its Web URI, a GS1 identifier as its canonical Digital Link."""
    return _Canon(namespaces).value


def event_hash(
    event: Mapping[str, Any], namespaces: Mapping[str, str] | None = None, depth_checked: bool = False
) -> str:
    """``ni:///sha-256;<hex>?ver=CBV2.0`` of one event."""
    digest = hashlib.sha256(pre_hash_string(event, namespaces, depth_checked=depth_checked).encode()).hexdigest()
    return f"ni:///sha-256;{digest}?ver={VERSION}"


def hash_digest(ni_uri: str) -> bytes:
    """The 32-byte SHA-256 digest inside an event hash URI (what is anchored on chain)."""
    return bytes.fromhex(ni_uri.split(";", 1)[1].split("?", 1)[0])
