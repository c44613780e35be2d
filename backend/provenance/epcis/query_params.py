"""The EPCIS 2.0 query language as the REST binding writes it (GS1's OpenAPI for EPCIS 2.0:
``GET /events?EQ_bizStep=shipping|receiving&GE_eventTime=…``, or the ``query`` of a named query
as JSON) read into the one ``EventFilter`` that ``query.find_page`` turns into SQL, the same as
``/v1/epcis/events``. A parameter this repository does not know is refused with its name
(``QueryParameterException``), never ignored: a client must not believe a filter applied.

Lists are ``|``-separated in a URL and JSON arrays in a named query. Which parameters exist, and
what each filters on, is ``SIMPLE`` and ``PREFIXED`` below (docs/epcis.md lists them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from backend.errors import InvalidQuery
from backend.provenance.epcis.events import EVENT_TYPES, short_term
from backend.provenance.epcis.facets import measurement_type
from backend.provenance.epcis.identifiers import canonical_uri
from backend.provenance.epcis.query import (
    MAX_EVENTS,
    ColumnIn,
    EventFilter,
    FacetIn,
    FacetRange,
    Match,
    read_page_position,
)

PER_PAGE = 30
MAX_VALUES = 100  # values of one list parameter
ACTIONS = ("ADD", "OBSERVE", "DELETE")
ANY_EPC = ("epc", "child", "parent", "input", "output")
ANY_CLASS = ("class", "in_class", "out_class")
# MATCH_<field> → the roles of the event index it looks in (EPC_ROLES / QUANTITY_ROLES of events.py).
MATCHES = {
    "MATCH_epc": ("epc", "child"),
    "MATCH_parentID": ("parent",),
    "MATCH_inputEPC": ("input",),
    "MATCH_outputEPC": ("output",),
    "MATCH_anyEPC": ANY_EPC,
    "MATCH_epcClass": ("class",),
    "MATCH_inputEPCClass": ("in_class",),
    "MATCH_outputEPCClass": ("out_class",),
    "MATCH_anyEPCClass": ANY_CLASS,
}
# EQ_<field> → (column of epcis_events, how a value is written there).
COLUMNS: dict[str, tuple[str, Callable[[str], str]]] = {
    "eventType": ("event_type", lambda v: v),
    "EQ_action": ("action", lambda v: v),
    "EQ_bizStep": ("biz_step", lambda v: short_term(v, "BizStep-") or v),
    "EQ_disposition": ("disposition", lambda v: short_term(v, "Disp-") or v),
    "EQ_readPoint": ("read_point", canonical_uri),
    "WD_readPoint": ("read_point", canonical_uri),  # no location hierarchy here: the location itself
    "EQ_bizLocation": ("biz_location", canonical_uri),
    "WD_bizLocation": ("biz_location", canonical_uri),
    "EQ_eventID": ("event_id", lambda v: v),
}
# EQ_<field> → (facet name, how a value is written there) (facets.py).
FACETS: dict[str, tuple[str, Callable[[str], str]]] = {
    "EQ_persistentDisposition_set": ("persistentDisposition.set", lambda v: short_term(v, "Disp-") or v),
    "EQ_persistentDisposition_unset": ("persistentDisposition.unset", lambda v: short_term(v, "Disp-") or v),
    "EQ_transformationID": ("transformationID", lambda v: v),
    "EQ_errorReason": ("errorReason", lambda v: short_term(v, "ER-") or v),
    "EQ_correctiveEventID": ("correctiveEventID", lambda v: v),
    "EQ_type": ("sensor.type", measurement_type),
    "EQ_deviceID": ("sensor.deviceID", lambda v: v),
    "EQ_dataProcessingMethod": ("sensor.dataProcessingMethod", lambda v: v),
    "EQ_microorganism": ("sensor.microorganism", lambda v: v),
    "EQ_chemicalSubstance": ("sensor.chemicalSubstance", lambda v: v),
    "EQ_bizRules": ("sensor.bizRules", lambda v: v),
    "EQ_stringValue": ("sensor.stringValue", lambda v: v),
    "EQ_hexBinaryValue": ("sensor.hexBinaryValue", lambda v: v),
    "EQ_uriValue": ("sensor.uriValue", lambda v: v),
    "EQ_booleanValue": ("sensor.booleanValue", lambda v: v.lower()),
}
# <op>_<field> over a number (a quantity) or a time (as Unix seconds) → facet name.
OPERATORS = {"EQ": "=", "GT": ">", "GE": ">=", "LT": "<", "LE": "<="}
NUMBERS = {f"{op}_quantity": "quantity" for op in OPERATORS}
TIMES = {
    "GE_errorDeclarationTime": "errorDeclarationTime",
    "LT_errorDeclarationTime": "errorDeclarationTime",
    "GE_startTime": "sensor.startTime",
    "LT_startTime": "sensor.startTime",
    "GE_endTime": "sensor.endTime",
    "LT_endTime": "sensor.endTime",
}
OTHERS = (
    "GE_eventTime",
    "LT_eventTime",
    "GE_recordTime",
    "LT_recordTime",
    "EXISTS_errorDeclaration",
    "orderBy",
    "orderDirection",
    "eventCountLimit",
    "maxEventCount",
    "perPage",
    "nextPageToken",
)
SIMPLE = (*COLUMNS, *MATCHES, *FACETS, *NUMBERS, *TIMES, *OTHERS)
# Parameters whose name carries a type or a field: EQ_bizTransaction_po, EQ_ILMD_cbvmda:lotNumber…
PREFIXED: dict[str, tuple[str, Callable[[str], str], Callable[[str], str]]] = {
    "EQ_bizTransaction_": ("bizTransaction.", lambda t: short_term(t, "BTT-") or t, lambda v: v),
    "EQ_source_": ("source.", lambda t: short_term(t, "SDT-") or t, canonical_uri),
    "EQ_destination_": ("destination.", lambda t: short_term(t, "SDT-") or t, canonical_uri),
    "EQ_ILMD_": ("ilmd.", lambda t: t, lambda v: v),
}
ILMD_RANGE = re.compile(r"^(GT|GE|LT|LE)_ILMD_(.+)$")
TIME_ZONE_SPACE = re.compile(r" (\d\d:?\d\d)$")  # a '+' of the offset that a URL turned into a space


def values_of(raw: Any, name: str) -> list[str]:
    """A parameter's values: a URL's ``a|b``, or a named query's JSON array or scalar."""
    items = [_scalar(v, name) for v in raw] if isinstance(raw, list) else _scalar(raw, name).split("|")
    if not items or any(v == "" for v in items):
        raise InvalidQuery(f"{name}: give at least one value, none empty", field=name)
    if len(items) > MAX_VALUES:
        raise InvalidQuery(f"{name}: at most {MAX_VALUES} values", field=name)
    return items


def _scalar(value: Any, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidQuery(f"{name}: a value or a list of values", field=name)


def _one(raw: Any, name: str) -> str:
    values = values_of(raw, name)
    if len(values) != 1:
        raise InvalidQuery(f"{name}: one value", field=name)
    return values[0]


def _time(raw: Any, name: str) -> datetime:
    value = TIME_ZONE_SPACE.sub(r"+\1", _one(raw, name))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        moment.timestamp()  # within the years a timestamp holds (0001-01-01+05:00 is not)
    except (ValueError, OverflowError) as bad:
        raise InvalidQuery(f"{name}: {value[:40]!r} is not an ISO 8601 date-time", field=name) from bad
    return moment


def _number(raw: Any, name: str) -> float:
    try:
        return float(_one(raw, name))
    except ValueError as bad:
        raise InvalidQuery(f"{name}: a number", field=name) from bad


def _whole(raw: Any, name: str, low: int, high: int) -> int:
    try:
        number = int(_one(raw, name))
    except ValueError as bad:
        raise InvalidQuery(f"{name}: a whole number", field=name) from bad
    if not low <= number <= high:
        raise InvalidQuery(f"{name}: between {low} and {high}", field=name)
    return number


def _known(name: str) -> bool:
    return name in SIMPLE or ILMD_RANGE.match(name) is not None or any(name.startswith(p) for p in PREFIXED)


def check_names(params: Mapping[str, Any]) -> None:
    """Refuse the first parameter this repository does not know, naming it."""
    for name in sorted(params):
        if not _known(name):
            raise InvalidQuery(
                f"{name}: not a query parameter this repository supports (docs/epcis.md lists them)", field=name
            )


def _checked(name: str, values: list[str]) -> list[str]:
    if name == "eventType" and (bad := [v for v in values if v not in EVENT_TYPES]):
        raise InvalidQuery(f"eventType: {bad[0]!r} is not an EPCIS 2.0 event type", field=name)
    if name == "EQ_action" and (bad := [v for v in values if v not in ACTIONS]):
        raise InvalidQuery(f"EQ_action: {bad[0]!r} is not ADD, OBSERVE or DELETE", field=name)
    if name == "EQ_booleanValue" and (bad := [v for v in values if v.lower() not in ("true", "false")]):
        raise InvalidQuery(f"EQ_booleanValue: {bad[0]!r} is not true or false", field=name)
    return values


def standard_filter(params: Mapping[str, Any], epc: str | None = None) -> EventFilter:
    """The filter the binding's ``params`` mean (``epc``: the item of ``/epcs/{epc}/events``)."""
    check_names(params)
    per_page = _whole(params["perPage"], "perPage", 1, MAX_EVENTS) if "perPage" in params else PER_PAGE
    token = _one(params["nextPageToken"], "nextPageToken") if "nextPageToken" in params else None
    where: list[ColumnIn] = []
    matches: list[Match] = [Match(ANY_EPC, (epc,), "epc")] if epc else []
    facets: list[FacetIn] = []
    ranges: dict[str, list[tuple[str, float]]] = {}
    for name, raw in sorted(params.items()):
        if name in COLUMNS:
            column, written = COLUMNS[name]
            where.append(ColumnIn(column, tuple(written(v) for v in _checked(name, values_of(raw, name)))))
        elif name in MATCHES:
            matches.append(Match(MATCHES[name], tuple(values_of(raw, name)), name))
        elif name in FACETS:
            facet, written = FACETS[name]
            facets.append(FacetIn(facet, tuple(written(v) for v in _checked(name, values_of(raw, name)))))
        elif name in NUMBERS:
            ranges.setdefault(NUMBERS[name], []).append((OPERATORS[name[:2]], _number(raw, name)))
        elif name in TIMES:
            ranges.setdefault(TIMES[name], []).append((OPERATORS[name[:2]], _time(raw, name).timestamp()))
        elif bounded := ILMD_RANGE.match(name):
            ranges.setdefault(f"ilmd.{bounded.group(2)}", []).append((OPERATORS[bounded.group(1)], _number(raw, name)))
        elif prefix := next((p for p in PREFIXED if name.startswith(p)), None):
            facet, kind, written = PREFIXED[prefix]
            facets.append(FacetIn(facet + kind(name[len(prefix) :]), tuple(written(v) for v in values_of(raw, name))))
    order_by = _one(params["orderBy"], "orderBy") if "orderBy" in params else None
    if order_by not in (None, "eventTime", "recordTime"):
        raise InvalidQuery("orderBy: eventTime or recordTime (no extension field is orderable here)", "orderBy")
    direction = _one(params["orderDirection"], "orderDirection") if "orderDirection" in params else "DESC"
    if direction not in ("ASC", "DESC"):
        raise InvalidQuery("orderDirection: ASC or DESC", field="orderDirection")
    if "eventCountLimit" in params and "maxEventCount" in params:
        raise InvalidQuery("eventCountLimit and maxEventCount exclude each other", field="eventCountLimit")
    if "eventCountLimit" in params and order_by is None:
        raise InvalidQuery("eventCountLimit needs orderBy (which events come first)", field="eventCountLimit")
    after, served = None, 0
    if token is not None:
        start, last, served = read_page_position(token, "nextPageToken")
        after = (start, last)
    exists = params.get("EXISTS_errorDeclaration")

    def moment(name: str) -> datetime | None:
        return _time(params[name], name) if name in params else None

    def count(name: str) -> int | None:
        return _whole(params[name], name, 1, MAX_EVENTS) if name in params else None

    return EventFilter(
        since=moment("GE_eventTime"),
        until=moment("LT_eventTime"),
        recorded_since=moment("GE_recordTime"),
        recorded_until=moment("LT_recordTime"),
        where=tuple(where),
        matches=tuple(matches),
        facets=tuple(facets),
        ranges=tuple(FacetRange(name, tuple(bounds)) for name, bounds in sorted(ranges.items())),
        erroneous=exists == "" or (exists is not None and _one(exists, "EXISTS_errorDeclaration").lower() == "true"),
        order_by=order_by or "eventTime",
        descending=order_by is not None and direction == "DESC",
        count_limit=count("eventCountLimit"),
        max_count=count("maxEventCount"),
        limit=per_page,
        after=after,
        served=served,
    )
