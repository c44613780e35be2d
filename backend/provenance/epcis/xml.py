"""EPCIS 1.2 and 2.0 XML documents as the EPCIS 2.0 JSON-LD documents they stand for (the
standard's XML ↔ JSON mapping), so that an XML capture is checked, hashed and stored exactly as
its JSON form: the same events, the same hashes.

Parsed with ``defusedxml`` (no DTD, no entity expansion). Extension elements keep the prefix the
document declared for their namespace (``<example:temp xmlns:example="…">`` → ``"example:temp"``
with ``{"example": "…"}`` in the context). EPCIS 1.2's ``extension`` and ``baseExtension``
wrappers are unwrapped (its TransformationEvent and AssociationEvent sit in an ``extension``).
"""

from __future__ import annotations

import io
from typing import Any
from xml.etree.ElementTree import Element, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, iterparse

from backend.bounds import check_value_depth
from backend.errors import Unprocessable
from backend.provenance.epcis.hashing import SENSOR_REPORT_VOCABULARY

EPCIS_NAMESPACES = frozenset({"urn:epcglobal:epcis:xsd:1", "urn:epcglobal:epcis:xsd:2"})
SBDH = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
TEXT_FIELDS = frozenset(
    {
        "eventTime",
        "recordTime",
        "eventTimeZoneOffset",
        "eventID",
        "action",
        "bizStep",
        "disposition",
        "parentID",
        "transformationID",
        "certificationInfo",
    }
)
EPC_LISTS = frozenset({"epcList", "childEPCs", "inputEPCList", "outputEPCList"})
QUANTITY_LISTS = frozenset({"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"})
TYPED_LISTS = {"bizTransactionList": "bizTransaction", "sourceList": "source", "destinationList": "destination"}
NUMBERS = frozenset({"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"})
MAX_DEPTH = 40
# CBV terms are URNs in XML and bare names in JSON (the standard's mapping; the schema refuses the URNs).
CBV_URNS = {
    "bizStep": "urn:epcglobal:cbv:bizstep:",
    "disposition": "urn:epcglobal:cbv:disp:",
    "set": "urn:epcglobal:cbv:disp:",
    "unset": "urn:epcglobal:cbv:disp:",
    "bizTransactionList": "urn:epcglobal:cbv:btt:",
    "sourceList": "urn:epcglobal:cbv:sdt:",
    "destinationList": "urn:epcglobal:cbv:sdt:",
    "reason": "urn:epcglobal:cbv:er:",
}


def _term(field: str, text: str) -> str:
    return text.removeprefix(CBV_URNS[field])


class InvalidXml(Unprocessable):
    code = "invalid_xml"


def _local(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return None, tag


def _number(text: str) -> int | float | str:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


class _Converter:
    def __init__(self, prefixes: dict[str, str]) -> None:
        self.prefix_of = {uri: prefix for prefix, uri in prefixes.items() if prefix}
        self.used: dict[str, str] = {}

    def key(self, tag: str) -> str:
        uri, local = _local(tag)
        if uri is None or uri in EPCIS_NAMESPACES:
            return local
        prefix = self.prefix_of.get(uri)
        if prefix is None:  # a default namespace on an extension: name one
            prefix = f"ns{len(self.used) + 1}"
            self.prefix_of[uri] = prefix
        self.used[prefix] = uri
        return f"{prefix}:{local}"

    def extension(self, element: Element) -> Any:
        children = list(element)
        if not children:
            return (element.text or "").strip()
        value: dict[str, Any] = {}
        for child in children:
            key, inner = self.key(child.tag), self.extension(child)
            if key in value:  # repeated elements: a list
                value[key] = [*value[key], inner] if isinstance(value[key], list) else [value[key], inner]
            else:
                value[key] = inner
        return value

    def event(self, element: Element) -> dict[str, Any]:
        _, kind = _local(element.tag)
        event: dict[str, Any] = {"type": kind}
        self._fields(element, event)
        return event

    def _fields(self, element: Element, event: dict[str, Any]) -> None:
        for child in element:
            uri, name = _local(child.tag)
            if uri is not None and uri not in EPCIS_NAMESPACES:
                key = self.key(child.tag)
                event[key] = self.extension(child)
            elif name in ("extension", "baseExtension"):
                self._fields(child, event)  # EPCIS 1.2 wrappers
            elif name in TEXT_FIELDS:
                text = (child.text or "").strip()
                event[name] = _term(name, text) if name in CBV_URNS else text
            elif name in EPC_LISTS:
                event[name] = [(epc.text or "").strip() for epc in child]
            elif name in QUANTITY_LISTS:
                event[name] = [self._quantity(q) for q in child]
            elif name in TYPED_LISTS:
                event[name] = [
                    {
                        **({"type": _term(name, entry.get("type", ""))} if entry.get("type") else {}),
                        TYPED_LISTS[name]: (entry.text or "").strip(),
                    }
                    for entry in child
                ]
            elif name in ("readPoint", "bizLocation"):
                event[name] = self._location(child)
            elif name == "errorDeclaration":
                event[name] = self._declaration(child)
            elif name == "persistentDisposition":
                event[name] = {
                    part: [_term(part, (e.text or "").strip()) for e in child if _local(e.tag)[1] == part]
                    for part in ("set", "unset")
                    if any(_local(e.tag)[1] == part for e in child)
                }
            elif name == "sensorElementList":
                event[name] = [self._sensor_element(s) for s in child]
            elif name == "ilmd":
                event[name] = {self.key(c.tag): self.extension(c) for c in child if _local(c.tag)[1] != "extension"}
            else:
                event[name] = self.extension(child)

    def _quantity(self, element: Element) -> dict[str, Any]:
        found = {_local(c.tag)[1]: (c.text or "").strip() for c in element}
        quantity: dict[str, Any] = {"epcClass": found.get("epcClass", "")}
        if "quantity" in found:
            quantity["quantity"] = _number(found["quantity"])
        if "uom" in found:
            quantity["uom"] = found["uom"]
        return quantity

    def _location(self, element: Element) -> dict[str, Any]:
        location: dict[str, Any] = {}
        for child in element:
            uri, name = _local(child.tag)
            if name == "id" and uri is None:
                location["id"] = (child.text or "").strip()
            elif name != "extension":
                location[self.key(child.tag)] = self.extension(child)
        return location

    def _declaration(self, element: Element) -> dict[str, Any]:
        declaration: dict[str, Any] = {}
        for child in element:
            uri, name = _local(child.tag)
            if name == "declarationTime" and uri is None:
                declaration[name] = (child.text or "").strip()
            elif name == "reason" and uri is None:
                declaration[name] = _term(name, (child.text or "").strip())
            elif name == "correctiveEventIDs":
                declaration[name] = [(c.text or "").strip() for c in child]
            elif name != "extension":
                declaration[self.key(child.tag)] = self.extension(child)
        return declaration

    def _sensor_element(self, element: Element) -> dict[str, Any]:
        sensor: dict[str, Any] = {}
        reports = []
        for child in element:
            uri, name = _local(child.tag)
            if name == "sensorMetadata" and uri is None:
                sensor["sensorMetadata"] = self._attributes(child)
            elif name == "sensorReport" and uri is None:
                reports.append(self._attributes(child))
            elif name != "extension":
                sensor[self.key(child.tag)] = self.extension(child)
        if reports:
            sensor["sensorReport"] = reports
        return sensor

    def _attributes(self, element: Element) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, value in element.attrib.items():
            key = self.key(name)
            found[key] = _number(value) if key in NUMBERS else (value == "true" if key == "booleanValue" else value)
        return found


def document_from_xml(data: bytes) -> dict[str, Any]:
    """The EPCIS 2.0 JSON-LD document an EPCIS 1.2 or 2.0 XML document stands for."""
    prefixes: dict[str, str] = {}
    root: Element | None = None
    depth = 0
    try:
        for kind, item in iterparse(io.BytesIO(data), events=("start-ns", "start", "end"), forbid_dtd=True):
            if kind == "start-ns":
                prefix, uri = item
                prefixes.setdefault(prefix, uri)
            elif kind == "start":
                depth += 1
                if depth > MAX_DEPTH:
                    raise InvalidXml(f"the XML document is nested deeper than {MAX_DEPTH} levels", field="document")
                root = item if root is None else root
            else:
                depth -= 1
    except (ParseError, DefusedXmlException) as bad:
        raise InvalidXml(f"not a well-formed XML document without a DTD: {bad}", field="document") from bad
    assert root is not None
    uri, name = _local(root.tag)
    if name != "EPCISDocument" or uri not in EPCIS_NAMESPACES:
        raise InvalidXml("the root element is not an EPCISDocument (urn:epcglobal:epcis:xsd:1 or :2)", field="document")
    convert = _Converter(prefixes)
    events = []
    header: dict[str, Any] | None = None
    for part in root:
        _, part_name = _local(part.tag)
        if part_name == "EPCISHeader":
            header = {convert.key(c.tag): convert.extension(c) for c in part}
        elif part_name == "EPCISBody":
            for event_list in part:
                if _local(event_list.tag)[1] == "EventList":
                    events += [_unwrapped(convert, e) for e in event_list]
    document: dict[str, Any] = {
        "@context": [CONTEXT, *([dict(sorted(convert.used.items()))] if convert.used else [])],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": root.get("creationDate", ""),
        "epcisBody": {"eventList": [e for e in events if e is not None]},
    }
    if header:
        document["epcisHeader"] = header
    check_value_depth(document, MAX_DEPTH, "the document", "document")
    return document


def _unwrapped(convert: _Converter, element: Element) -> dict[str, Any] | None:
    """An event element (EPCIS 1.2 puts the newer types in an ``extension``)."""
    _, name = _local(element.tag)
    if name in EVENT_TYPES:
        return convert.event(element)
    if name == "extension":
        inner = [c for c in element if _local(c.tag)[1] in EVENT_TYPES]
        return convert.event(inner[0]) if inner else None
    return None


# -- export -------------------------------------------------------------------------------

XML_ORDER = (
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "errorDeclaration",
    "certificationInfo",
    "parentID",
    "epcList",
    "childEPCs",
    "inputEPCList",
    "quantityList",
    "childQuantityList",
    "inputQuantityList",
    "outputEPCList",
    "outputQuantityList",
    "action",
    "transformationID",
    "bizStep",
    "disposition",
    "persistentDisposition",
    "readPoint",
    "bizLocation",
    "bizTransactionList",
    "sourceList",
    "destinationList",
    "sensorElementList",
    "ilmd",
)
ITEM_OF_LIST = {**dict.fromkeys(EPC_LISTS, "epc"), **dict.fromkeys(QUANTITY_LISTS, "quantityElement")}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _urn(field: str, value: Any) -> str:
    """A bare CBV term as the URN XML writes it (URIs and prefixed names as they are)."""
    text = _text(value)
    return CBV_URNS[field] + text if field in CBV_URNS and text and ":" not in text else text


def _report_value(key: str, value: Any) -> str:
    """Sensor report attributes: a bare term (``Temperature``, ``latitude``) as its full IRI, which
    XML readers take literally (the JSON context expands it)."""
    text = _text(value)
    base = SENSOR_REPORT_VOCABULARY.get(key)
    return base + text if base and text and ":" not in text else text


def _append(parent: Element, tag: str, text: str | None = None, **attributes: str) -> Element:
    child = Element(tag, attributes)
    child.text = text
    parent.append(child)
    return child


def _extension(parent: Element, key: str, value: Any) -> None:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            element = _append(parent, key)
            for inner_key, inner in item.items():
                if not inner_key.startswith("@"):
                    _extension(element, inner_key, inner)
        else:
            _append(parent, key, _text(item))


def _event_xml(event: dict[str, Any]) -> Element:
    element = Element(str(event["type"]))
    own = event.get("@context")
    for prefix, uri in own.items() if isinstance(own, dict) else []:
        if isinstance(uri, str):
            element.set(f"xmlns:{prefix}", uri)
    for name in XML_ORDER:
        if name in event:
            _standard(element, name, event[name])
    for key, value in event.items():
        if key not in XML_ORDER and key not in ("type", "@context"):
            _extension(element, key, value)
    return element


def _standard(element: Element, name: str, value: Any) -> None:
    if name in EPC_LISTS or name in QUANTITY_LISTS:
        holder = _append(element, name)
        for item in value:
            if isinstance(item, dict):
                quantity = _append(holder, ITEM_OF_LIST[name])
                for part in ("epcClass", "quantity", "uom"):
                    if part in item:
                        _append(quantity, part, _text(item[part]))
            else:
                _append(holder, ITEM_OF_LIST[name], _text(item))
    elif name in TYPED_LISTS:
        holder = _append(element, name)
        for entry in value:
            attributes = {"type": _urn(name, entry["type"])} if entry.get("type") else {}
            _append(holder, TYPED_LISTS[name], _text(entry.get(TYPED_LISTS[name], "")), **attributes)
    elif name in ("readPoint", "bizLocation", "ilmd"):
        holder = _append(element, name)
        for key, inner in value.items():
            _extension(holder, key, inner)
    elif name == "errorDeclaration":
        holder = _append(element, name)
        for key, inner in value.items():
            if key == "correctiveEventIDs":
                ids = _append(holder, key)
                for event_id in inner:
                    _append(ids, "correctiveEventID", _text(event_id))
            else:
                _extension(holder, key, _urn("reason", inner) if key == "reason" else inner)
    elif name == "persistentDisposition":
        holder = _append(element, name)
        for part in ("set", "unset"):
            for term in value.get(part, []):
                _append(holder, part, _urn(part, term))
    elif name == "sensorElementList":
        holder = _append(element, name)
        for sensor in value:
            sensor_element = _append(holder, "sensorElement")
            if "sensorMetadata" in sensor:
                _append(sensor_element, "sensorMetadata", **{k: _text(v) for k, v in sensor["sensorMetadata"].items()})
            for report in sensor.get("sensorReport", []):
                _append(sensor_element, "sensorReport", **{k: _report_value(k, v) for k, v in report.items()})
            for key, inner in sensor.items():
                if key not in ("sensorMetadata", "sensorReport"):
                    _extension(sensor_element, key, inner)
    else:
        _append(element, name, _urn(name, value) if name in CBV_URNS else _text(value))


def document_to_xml(document: dict[str, Any]) -> bytes:
    """The EPCIS 2.0 XML of a JSON-LD document (the prefixes of its context as XML namespaces):
    ``document_from_xml`` of it gives the same events, and so the same hashes."""
    root = Element(
        "epcis:EPCISDocument",
        {
            "xmlns:epcis": "urn:epcglobal:epcis:xsd:2",
            "schemaVersion": "2.0",
            "creationDate": _text(document.get("creationDate", "")),
        },
    )
    context = document.get("@context")
    for entry in context if isinstance(context, list) else [context]:
        if isinstance(entry, dict):
            for prefix, uri in entry.items():
                if isinstance(uri, str) and not prefix.startswith("@") and ":" not in prefix:
                    root.set(f"xmlns:{prefix}", uri)
    header = document.get("epcisHeader")
    if isinstance(header, dict):
        holder = _append(root, "EPCISHeader")
        for key, value in header.items():
            _extension(holder, key, value)
    events = _append(_append(root, "EPCISBody"), "EventList")
    for event in document["epcisBody"]["eventList"]:
        events.append(_event_xml(event))
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="unicode").encode()
