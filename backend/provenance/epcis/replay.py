"""Business rules on the event stream, checked by replaying each item's history in ``eventTime``
order (events may arrive late, so a new event is checked against what happened before *and*
after it):

- nothing happens to an item before it is commissioned (and it is commissioned once);
- nothing happens after it is decommissioned;
- an item is in one parent at a time (aggregation), and never inside itself;
- a receipt matches an open shipment (and shares its business transactions, when both name some);
- an item is shipped again only after it was received, and sold once.

What happens to a container happens to what it contains: shipping a pallet ships its cases and
their items, once, even when the event also lists them (and receiving likewise). A
TransactionEvent moves nothing: it associates goods with a business transaction (the
despatch-advice pattern ships with an ObjectEvent and names the despatch advice in a
TransactionEvent at the same time), so its transactions join the open shipment. An ObjectEvent ADD
with ``receiving`` commissions the items as they are received (CBV: ADD means the objects are
created as part of the event; ``receiving`` adds them to the receiver's inventory): no shipment
precedes them. Events declared erroneous are left out before the replay (capture.py). Pure logic
over :class:`ParsedEvent` lists; no database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from backend.provenance.epcis.events import ParsedEvent
from backend.provenance.epcis.identifiers import Identifier

COMMISSIONING = "commissioning"
DECOMMISSIONING = frozenset({"decommissioning", "destroying"})


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    event_index: int | None
    epc: str | None = None


@dataclass
class Shipment:
    time: datetime
    event_id: str
    transactions: dict[str, set[str]]


@dataclass
class EpcState:
    commissioned: datetime | None = None
    decommissioned: datetime | None = None
    sold: datetime | None = None
    parent: str | None = None
    shipment: Shipment | None = None
    received: datetime | None = None

    @property
    def status(self) -> str:
        if self.decommissioned:
            return "decommissioned"
        if self.sold:
            return "sold"
        if self.shipment:
            return "in_transit"
        if self.received:
            return "received"
        return "commissioned" if self.commissioned else "registered"


@dataclass
class Link:
    """A containment (parent → child) or transformation (input → output) and when it held."""

    kind: str
    source: str
    target: str
    start: datetime
    event: ParsedEvent
    end: datetime | None = None


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Replay:
    """Replays events in time order; collects violations, final states and links."""

    states: dict[str, EpcState] = field(default_factory=lambda: defaultdict(EpcState))
    children: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    links: list[Link] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    items: set[str] = field(default_factory=set)
    # Identifiers whose whole history is in the replay; others appear only through a shared event
    # (e.g. items commissioned together), so rules are checked and states kept for these alone.
    focus: set[str] | None = None
    _open: dict[tuple[str, str], Link] = field(default_factory=dict)
    _last_new: dict[str, int] = field(default_factory=dict)
    _first_new: int | None = None
    _event: ParsedEvent | None = None
    # Identifiers the current event already shipped or received (a pallet and the contents it lists).
    _moved: set[str] = field(default_factory=set)

    # -- running -------------------------------------------------------------------------

    def run(self, events: Iterable[ParsedEvent]) -> Replay:
        # Stored events first at equal times (they were accepted in that order), then new ones in
        # document order.
        ordered = sorted(events, key=lambda e: (e.time, e.is_new, e.index or 0, e.pk or 0))
        for event in ordered:
            self._event = event
            self._moved = set()
            keys = [i.key for _, i in event.named()]
            self.items.update(i.key for _, i in event.named() if i.is_item)
            if event.is_new:
                assert event.index is not None
                self._first_new = event.index if self._first_new is None else self._first_new
                self._last_new.update(dict.fromkeys(keys, event.index))
            self._apply(event)
        return self

    def _violate(self, rule: str, epc: Identifier | str, message: str) -> None:
        event = self._event
        assert event is not None
        key, shown = (epc.key, epc.uri) if isinstance(epc, Identifier) else (epc, epc)
        if self.focus is not None and key not in self.focus:
            return
        if event.is_new:
            self.violations.append(Violation(rule, f"{event.label()}: {message}", event.index, shown))
            return
        # A recorded event no longer holds: the late event that changed this item's past is at fault.
        culprit = self._last_new.get(key, self._first_new)
        text = f"it would contradict recorded event {event.event_id} ({event.label()}): {message}"
        self.violations.append(Violation(rule, text, culprit, shown))

    # -- state helpers -------------------------------------------------------------------

    def descendants(self, key: str) -> list[str]:
        found: list[str] = []
        stack = list(self.children.get(key, ()))
        while stack:
            child = stack.pop()
            if child not in found:
                found.append(child)
                stack.extend(self.children.get(child, ()))
        return found

    def _alive(self, identifiers: Iterable[Identifier], doing: str) -> None:
        """Items must be commissioned; nothing may be decommissioned."""
        assert self._event is not None
        for identifier in identifiers:
            state = self.states[identifier.key]
            if state.decommissioned is not None:
                self._violate(
                    "after_decommissioning",
                    identifier,
                    f"{identifier.uri} was decommissioned at {_when(state.decommissioned)}",
                )
            elif identifier.is_item and state.commissioned is None:
                self._violate(
                    "not_commissioned", identifier, f"{identifier.uri} cannot be {doing} before it is commissioned"
                )

    def _commission(self, identifiers: Iterable[Identifier]) -> None:
        assert self._event is not None
        for identifier in identifiers:
            state = self.states[identifier.key]
            if state.decommissioned is not None:
                self._violate(
                    "after_decommissioning",
                    identifier,
                    f"{identifier.uri} was decommissioned at {_when(state.decommissioned)}",
                )
            elif state.commissioned is not None:
                self._violate(
                    "already_commissioned",
                    identifier,
                    f"{identifier.uri} was already commissioned at {_when(state.commissioned)}",
                )
            else:
                state.commissioned = self._event.time

    def _decommission(self, identifiers: Iterable[Identifier]) -> None:
        assert self._event is not None
        for identifier in identifiers:
            key = identifier.key
            self.states[key].decommissioned = self._event.time
            for child in list(self.children.get(key, ())):
                self._detach(key, child)
            if (parent := self.states[key].parent) is not None:
                self._detach(parent, key)

    def _attach(self, parent: Identifier, child: Identifier) -> None:
        assert self._event is not None
        state = self.states[child.key]
        if child.key == parent.key or child.key in self._ancestors(parent.key):
            self._violate("parent_cycle", child, f"{child.uri} cannot be packed inside itself")
        elif state.parent is not None and state.parent != parent.key:
            self._violate(
                "one_parent",
                child,
                f"{child.uri} is already in {state.parent}; an item is in one parent at a time (unpack it first)",
            )
        elif state.parent is None:
            state.parent = parent.key
            self.children[parent.key].add(child.key)
            link = Link("contains", parent.key, child.key, self._event.time, self._event)
            self.links.append(link)
            self._open[(parent.key, child.key)] = link

    def _detach(self, parent: str, child: str) -> None:
        assert self._event is not None
        self.states[child].parent = None
        self.children[parent].discard(child)
        link = self._open.pop((parent, child), None)
        if link is not None:
            link.end = self._event.time

    def _ancestors(self, key: str) -> list[str]:
        found = []
        while (parent := self.states[key].parent) is not None and parent not in found:
            found.append(parent)
            key = parent
        return found

    # -- business steps ------------------------------------------------------------------

    def _business_step(self, targets: list[Identifier], event: ParsedEvent) -> None:
        step = event.biz_step
        if step == "shipping":
            for target in targets:
                if target.key in self._moved:
                    continue
                state = self.states[target.key]
                if target.is_item and state.shipment is not None:
                    self._violate(
                        "already_shipped",
                        target,
                        f"{target.uri} was shipped at {_when(state.shipment.time)} and not received since",
                    )
                shipment = Shipment(event.time, event.event_id, {k: set(v) for k, v in event.transactions.items()})
                for key in [target.key, *self.descendants(target.key)]:
                    self.states[key].shipment = shipment
                    self._moved.add(key)
        elif step == "receiving":
            for target in targets:
                if target.key not in self._moved:
                    self._receive(target, event)
        elif step == "retail_selling":
            for target in (t for t in targets if t.is_item):
                state = self.states[target.key]
                if state.sold is not None:
                    self._violate("already_sold", target, f"{target.uri} was already sold at {_when(state.sold)}")
                else:
                    state.sold = event.time
        elif step in DECOMMISSIONING:
            self._decommission(targets)

    def _receive(self, target: Identifier, event: ParsedEvent) -> None:
        state = self.states[target.key]
        shipment = state.shipment
        created_here = event.event_type == "ObjectEvent" and event.action == "ADD"
        if shipment is None and created_here:  # ADD + receiving: commissioned as it is received
            state.received = event.time
            return
        if shipment is None:
            if target.is_item:
                self._violate(
                    "receipt_without_shipment", target, f"{target.uri} is received but no open shipment of it matches"
                )
            return
        shared = set(shipment.transactions) & set(event.transactions)
        mismatched = [kind for kind in shared if not shipment.transactions[kind] & event.transactions[kind]]
        if mismatched:
            self._violate(
                "receipt_mismatch",
                target,
                f"{target.uri}: the receipt's {', '.join(sorted(mismatched))} "
                f"does not match the shipment's ({shipment.event_id})",
            )
        for key in [target.key, *self.descendants(target.key)]:
            self.states[key].shipment = None
            self.states[key].received = event.time
            self._moved.add(key)

    # -- event types ---------------------------------------------------------------------

    def _apply(self, event: ParsedEvent) -> None:
        handler = {
            "ObjectEvent": self._object,
            "AggregationEvent": self._aggregation,
            "TransactionEvent": self._transaction,
            "TransformationEvent": self._transformation,
            "AssociationEvent": self._association,
        }.get(event.event_type)
        if handler is not None:
            handler(event)

    def _object(self, event: ParsedEvent) -> None:
        if event.action == "ADD" or event.biz_step == COMMISSIONING:
            self._commission(event.epcs)
        else:
            self._alive(event.epcs, _doing(event))
        if event.action == "DELETE":
            self._decommission(event.epcs)
        self._business_step(event.epcs, event)

    def _aggregation(self, event: ParsedEvent) -> None:
        parent = event.parent
        if parent is None:
            return
        self._alive([parent, *event.children], _doing(event))
        if event.action == "ADD":
            for child in event.children:
                self._attach(parent, child)
        elif event.action == "OBSERVE":
            for child in event.children:
                self._attach(parent, child)  # confirms the containment, or records it if unknown
        elif event.action == "DELETE":
            named = [c.key for c in event.children] or list(self.children.get(parent.key, ()))
            for child_key in named:
                if self.states[child_key].parent != parent.key:
                    self._violate("not_in_parent", child_key, f"{child_key} is not in {parent.uri}")
                else:
                    self._detach(parent.key, child_key)
        self._business_step([parent, *event.children], event)

    def _transaction(self, event: ParsedEvent) -> None:
        """Not a movement: the goods must exist, and an ADD names its transactions on their open
        shipment (which a receipt is then matched with)."""
        targets = ([event.parent] if event.parent else []) + event.epcs
        self._alive(targets, _doing(event))
        if event.action != "ADD":
            return
        for target in targets:
            shipment = self.states[target.key].shipment
            if shipment is not None:
                for kind, values in event.transactions.items():
                    shipment.transactions[kind] = shipment.transactions.get(kind, set()) | values

    def _transformation(self, event: ParsedEvent) -> None:
        self._alive(event.inputs, "transformed")
        self._commission(event.outputs)
        for source in [*event.inputs, *(i for _, i in event.classes if _ == "in_class")]:
            for target in [*event.outputs, *(i for _, i in event.classes if _ == "out_class")]:
                self.links.append(Link("made_into", source.key, target.key, event.time, event, event.time))
        if event.biz_step != COMMISSIONING:
            self._business_step(event.outputs, event)

    def _association(self, event: ParsedEvent) -> None:
        # An association (e.g. a sensor on a pallet) is not containment: items keep their parent.
        self._alive([*([event.parent] if event.parent else []), *event.children], _doing(event))


def _doing(event: ParsedEvent) -> str:
    verbs = {
        "shipping": "shipped",
        "receiving": "received",
        "retail_selling": "sold",
        "packing": "packed",
        "unpacking": "unpacked",
        "decommissioning": "decommissioned",
    }
    return verbs.get(event.biz_step or "", f"in an event ({event.biz_step or event.action})")


def replay(events: Iterable[ParsedEvent], focus: set[str] | None = None) -> Replay:
    """Replay ``events``; with ``focus``, check rules for those identifiers only (see Replay.focus)."""
    return Replay(focus=focus).run(events)
