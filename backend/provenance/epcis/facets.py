"""The fields of an event that the standard query parameters filter on and that have no column of
their own (persistent dispositions, transformationID, business transactions, sources and
destinations, quantities, sensor data, ILMD, the error declaration), as rows of
``epcis_event_facets``: ``(name, value, number)`` per event, indexed by name and value and by
name and number, so that every parameter is one indexed SQL condition (query.py), never a pass
over the events' bodies.

Names: ``persistentDisposition.set``/``.unset``, ``transformationID``, ``bizTransaction.<type>``,
``source.<type>``, ``destination.<type>``, ``quantity`` (number), ``sensor.<attribute>`` (its
times as numbers), ``ilmd.<field>``, ``errorReason``, ``correctiveEventID``,
``errorDeclarationTime`` (number). CBV values are kept in their short form, identifiers in their
canonical form, as the columns of ``epcis_events`` are; times as Unix seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from backend.provenance.epcis.events import parse_time, short_term
from backend.provenance.epcis.identifiers import canonical_uri

MAX_VALUE = 300  # longer values are not indexed (no standard field of ours comes near it)
GS1_VOC = ("https://gs1.org/voc/", "gs1:")
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
# Sensor attributes the standard queries with EQ_<attribute> (its URIs and strings, as written).
SENSOR_VALUES = (
    "deviceID",
    "dataProcessingMethod",
    "microorganism",
    "chemicalSubstance",
    "bizRules",
    "stringValue",
    "uriValue",
    "hexBinaryValue",
)
SENSOR_TIMES = ("startTime", "endTime")


@dataclass(frozen=True)
class Facet:
    name: str
    value: str = ""
    number: float | None = None


def measurement_type(value: str) -> str:
    """A sensor type as the binding queries it: the bare word (``Temperature``)."""
    for prefix in GS1_VOC:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def _seconds(value: Any) -> float | None:
    try:
        return parse_time(value).timestamp() if isinstance(value, str) else None
    except (ValueError, OverflowError):
        return None


def _typed(entries: Any, key: str, prefix: str, vocabulary: str, canonical: bool) -> Iterator[Facet]:
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping) and isinstance(entry.get(key), str):
            kind = short_term(entry["type"], vocabulary) if isinstance(entry.get("type"), str) else ""
            value = canonical_uri(entry[key]) if canonical else entry[key]
            yield Facet(f"{prefix}.{kind}", value)


def _sensors(elements: Any) -> Iterator[Facet]:
    for element in elements if isinstance(elements, list) else []:
        if not isinstance(element, Mapping):
            continue
        metadata = element.get("sensorMetadata")
        parts = [metadata] if isinstance(metadata, Mapping) else []
        parts += [r for r in element.get("sensorReport") or [] if isinstance(r, Mapping)]
        for part in parts:
            if isinstance(part.get("type"), str):
                yield Facet("sensor.type", measurement_type(part["type"]))
            for name in SENSOR_VALUES:
                if isinstance(part.get(name), str):
                    yield Facet(f"sensor.{name}", part[name])
            if isinstance(part.get("booleanValue"), bool):
                yield Facet("sensor.booleanValue", "true" if part["booleanValue"] else "false")
            for name in SENSOR_TIMES:
                if (seconds := _seconds(part.get(name))) is not None:
                    yield Facet(f"sensor.{name}", number=seconds)


def _ilmd(ilmd: Any, namespaces: Mapping[str, str]) -> Iterator[Facet]:
    """Top-level ILMD values, by the field's name as written and, with a known prefix, by its IRI."""
    for name, value in ilmd.items() if isinstance(ilmd, Mapping) else []:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        text = str(value)
        number = float(value) if isinstance(value, int | float) else None
        yield Facet(f"ilmd.{name}", text, number)
        prefix, colon, local = name.partition(":")
        if colon and prefix in namespaces:
            yield Facet(f"ilmd.{namespaces[prefix]}{local}", text, number)


def declaration_facets(declaration: Mapping[str, Any] | None) -> Iterator[Facet]:
    if declaration is None:
        return
    if (seconds := _seconds(declaration.get("declarationTime"))) is not None:
        yield Facet("errorDeclarationTime", number=seconds)
    if isinstance(declaration.get("reason"), str):
        yield Facet("errorReason", short_term(declaration["reason"], "ER-") or "")
    for corrective in declaration.get("correctiveEventIDs") or []:
        if isinstance(corrective, str):
            yield Facet("correctiveEventID", corrective)


def event_facets(
    body: Mapping[str, Any], namespaces: Mapping[str, str], declaration: Mapping[str, Any] | None
) -> list[Facet]:
    """The facets of one event (its body as captured, its prefixes, its errorDeclaration if any)."""

    def found() -> Iterator[Facet]:
        persistent = body.get("persistentDisposition")
        if isinstance(persistent, Mapping):
            for which in ("set", "unset"):
                for value in persistent.get(which) or []:
                    if isinstance(value, str):
                        yield Facet(f"persistentDisposition.{which}", short_term(value, "Disp-") or "")
        if isinstance(body.get("transformationID"), str):
            yield Facet("transformationID", body["transformationID"])
        yield from _typed(body.get("bizTransactionList"), "bizTransaction", "bizTransaction", "BTT-", False)
        yield from _typed(body.get("sourceList"), "source", "source", "SDT-", True)
        yield from _typed(body.get("destinationList"), "destination", "destination", "SDT-", True)
        for name in QUANTITY_LISTS:
            for element in body.get(name) or []:
                quantity = element.get("quantity") if isinstance(element, Mapping) else None
                if isinstance(quantity, int | float) and not isinstance(quantity, bool):
                    yield Facet("quantity", number=float(quantity))
        yield from _sensors(body.get("sensorElementList"))
        yield from _ilmd(body.get("ilmd"), namespaces)
        yield from declaration_facets(declaration)

    unique = dict.fromkeys(f for f in found() if len(f.name) <= 200 and len(f.value) <= MAX_VALUE)
    return list(unique)


def facet_rows(pk: int, facets: list[Facet]) -> list[dict[str, Any]]:
    return [{"event_pk": pk, "name": f.name, "value": f.value, "number": f.number} for f in facets]
