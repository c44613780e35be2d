"""EPCIS events as the business rules see them: type, action, business step, time and the
identifiers named in each role, parsed once from the JSON-LD."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backend.provenance.epcis.hashing import CBV, event_hash, normalise_time
from backend.provenance.epcis.identifiers import Identifier, canonical_uri, identifier_problem, parse_identifier

EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransformationEvent", "AssociationEvent", "TransactionEvent")
# JSON field → role in the event index.
EPC_ROLES = {"epcList": "epc", "childEPCs": "child", "inputEPCList": "input", "outputEPCList": "output"}
QUANTITY_ROLES = {
    "quantityList": "class",
    "childQuantityList": "class",
    "inputQuantityList": "in_class",
    "outputQuantityList": "out_class",
}


def short_term(value: str | None, vocabulary: str) -> str | None:
    """CBV term in its short JSON form (``shipping``) whether written bare, as URN or as Web URI."""
    if value is None:
        return None
    for prefix in (CBV + vocabulary, f"urn:epcglobal:cbv:{vocabulary[:-1].lower()}:"):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def as_identifier(uri: str) -> Identifier:
    return parse_identifier(uri) or Identifier(uri, uri, "other")


def parse_time(value: str) -> datetime:
    normal = normalise_time(value)
    if len(normal) == 24 and normal[-1] == "Z":  # YYYY-MM-DDTHH:MM:SS.mmmZ: strptime is ten times slower
        return datetime.fromisoformat(normal[:-1]).replace(tzinfo=UTC)
    return datetime.strptime(normal, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass
class ParsedEvent:
    """One event. ``index`` is its position in a document being captured (None once stored)."""

    body: dict[str, Any]
    namespaces: dict[str, str]
    event_hash: str
    event_id: str
    event_type: str
    time: datetime
    action: str | None = None
    biz_step: str | None = None
    disposition: str | None = None
    read_point: str | None = None
    biz_location: str | None = None
    epcs: list[Identifier] = field(default_factory=list)
    parent: Identifier | None = None
    children: list[Identifier] = field(default_factory=list)
    inputs: list[Identifier] = field(default_factory=list)
    outputs: list[Identifier] = field(default_factory=list)
    classes: list[tuple[str, Identifier]] = field(default_factory=list)
    transactions: dict[str, set[str]] = field(default_factory=dict)
    index: int | None = None
    pk: int | None = None
    problems: list[str] = field(default_factory=list)
    # The body's nesting was measured against MAX_EVENT_DEPTH (or a lower limit): the pre-hash
    # strings of its public form need not walk it again.
    depth_checked: bool = False
    # Its errorDeclaration, when the event is declared erroneous (declarations.py).
    declaration: dict[str, Any] | None = None
    # The context entries it was captured with beyond the standard context (contexts.py).
    context: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_new(self) -> bool:
        return self.index is not None

    def named(self) -> list[tuple[str, Identifier]]:
        """Every identifier with its role (epc, parent, child, input, output, class…)."""
        roles: list[tuple[str, Identifier]] = [("epc", i) for i in self.epcs]
        roles += [("parent", self.parent)] if self.parent else []
        roles += [("child", i) for i in self.children] + [("input", i) for i in self.inputs]
        roles += [("output", i) for i in self.outputs] + self.classes
        return roles

    def gtins(self) -> set[str]:
        return {i.gtin for _, i in self.named() if i.gtin}

    def label(self) -> str:
        return f"{self.event_type} {self.biz_step or self.action or ''} at {self.time:%Y-%m-%dT%H:%M:%SZ}".strip()


def _location(value: Any) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return canonical_uri(value["id"])
    return None


def parse_event(
    body: dict[str, Any],
    namespaces: Mapping[str, str],
    index: int | None = None,
    known_hash: str | None = None,
    depth_checked: bool = False,
) -> ParsedEvent:
    """Parse a schema-valid event; identifier problems are collected in ``problems``.
    ``depth_checked``: the caller measured the body's nesting against MAX_EVENT_DEPTH or less."""
    hashed = known_hash or event_hash(body, namespaces, depth_checked=depth_checked)
    event = ParsedEvent(
        body=body,
        namespaces=dict(namespaces),
        event_hash=hashed,
        event_id=str(body.get("eventID") or hashed),
        event_type=str(body["type"]),
        time=parse_time(body["eventTime"]),
        action=body.get("action"),
        biz_step=short_term(body.get("bizStep"), "BizStep-"),
        disposition=short_term(body.get("disposition"), "Disp-"),
        read_point=_location(body.get("readPoint")),
        biz_location=_location(body.get("bizLocation")),
        index=index,
        depth_checked=depth_checked or known_hash is None,  # event_hash measured it otherwise
        declaration=declaration if isinstance(declaration := body.get("errorDeclaration"), dict) else None,
    )
    uris: list[str] = []
    for name, role in EPC_ROLES.items():
        for uri in body.get(name) or []:
            uris.append(uri)
            getattr(event, {"epc": "epcs", "child": "children", "input": "inputs", "output": "outputs"}[role]).append(
                as_identifier(uri)
            )
    if isinstance(body.get("parentID"), str):
        uris.append(body["parentID"])
        event.parent = as_identifier(body["parentID"])
    for name, role in QUANTITY_ROLES.items():
        for element in body.get(name) or []:
            uris.append(element["epcClass"])
            event.classes.append((role, as_identifier(element["epcClass"])))
    for entry in body.get("bizTransactionList") or []:
        kind = short_term(entry.get("type"), "BTT-") or ""
        event.transactions.setdefault(kind, set()).add(entry["bizTransaction"])
    event.problems = [p for p in (identifier_problem(u) for u in uris) if p]
    # What the index stores must fit its columns (the schema sets no length on URIs).
    limits = [
        ("identifier", [i.key for _, i in event.named()], 300),
        ("eventID", [event.event_id], 500),
        ("readPoint/bizLocation", [event.read_point or "", event.biz_location or ""], 300),
        ("bizStep/disposition", [event.biz_step or "", event.disposition or ""], 200),
    ]
    for what, values, limit in limits:
        event.problems += [f"{what} longer than {limit} characters: {v[:60]}…" for v in values if len(v) > limit]
    return event
