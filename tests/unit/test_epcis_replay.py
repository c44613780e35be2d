"""Business rules replayed on item histories in eventTime order, late events included."""

from __future__ import annotations

from typing import Any

import pytest

from backend.provenance.epcis.events import ParsedEvent, parse_event
from backend.provenance.epcis.replay import replay
from tests.provenance.support import at, commission, event, pack, receive, ship, unpack

A, B, C = (f"https://id.gs1.org/01/09506000134352/21/S{n}" for n in (1, 2, 3))
CASE = "urn:epc:id:sscc:0614141.1234567890"
PALLET = "urn:epc:id:sscc:0614141.1234567891"


def stored(*bodies: dict[str, Any]) -> list[ParsedEvent]:
    events = [parse_event(body, {}) for body in bodies]
    for pk, e in enumerate(events, start=1):
        e.pk = pk
    return events


def new(*bodies: dict[str, Any]) -> list[ParsedEvent]:
    return [parse_event(body, {}, index) for index, body in enumerate(bodies)]


def rules(past: list[ParsedEvent], incoming: list[ParsedEvent]) -> list[tuple[str, int | None]]:
    return [(v.rule, v.event_index) for v in replay([*past, *incoming]).violations]


def test_a_normal_life_breaks_no_rule() -> None:
    result = replay(
        new(
            commission([A, B], at(0)),
            pack(CASE, [A, B], at(1)),
            ship(
                [CASE],
                at(2),
                bizTransactionList=[{"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:1"}],
            ),
            receive(
                [CASE],
                at(3),
                bizTransactionList=[{"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:1"}],
            ),
            unpack(CASE, [A, B], at(4)),
            event("ObjectEvent", at(5), bizStep="retail_selling", epcList=[A]),
        )
    )
    assert result.violations == []
    assert result.states[A].status == "sold"
    assert result.states[B].status == "received"
    assert [(link.source, link.target, link.end is not None) for link in result.links] == [
        (CASE_KEY, A, True),
        (CASE_KEY, B, True),
    ]


CASE_KEY = "https://id.gs1.org/00/106141412345678908"


def test_nothing_ships_before_it_is_commissioned() -> None:
    assert rules([], new(ship([A], at(1)), commission([A], at(2)))) == [("not_commissioned", 0)]


def test_commissioned_once() -> None:
    assert rules(stored(commission([A], at(0))), new(commission([A], at(1)))) == [("already_commissioned", 0)]


def test_nothing_happens_after_decommissioning() -> None:
    past = stored(
        commission([A], at(0)), event("ObjectEvent", at(1), action="DELETE", bizStep="decommissioning", epcList=[A])
    )
    assert rules(past, new(ship([A], at(2)))) == [("after_decommissioning", 0)]


def test_one_parent_at_a_time_and_never_inside_itself() -> None:
    past = stored(commission([A], at(0)), pack(CASE, [A], at(1)))
    assert rules(past, new(pack(PALLET, [A], at(2)))) == [("one_parent", 0)]
    assert rules(past, new(unpack(CASE, [A], at(2)), pack(PALLET, [A], at(3)))) == []
    assert rules(stored(pack(PALLET, [CASE], at(0))), new(pack(CASE, [PALLET], at(1)))) == [("parent_cycle", 0)]
    assert rules(past, new(unpack(PALLET, [A], at(2)))) == [("not_in_parent", 0)]


def test_a_receipt_matches_a_shipment() -> None:
    past = stored(commission([A, B], at(0)))
    assert rules(past, new(receive([A], at(1)))) == [("receipt_without_shipment", 0)]
    po = [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:PO1"}]
    other = [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:PO2"}]
    assert rules(past, new(ship([A], at(1), bizTransactionList=po), receive([A], at(2), bizTransactionList=other))) == [
        ("receipt_mismatch", 1)
    ]
    assert rules(past, new(ship([A], at(1)), ship([A], at(2)))) == [("already_shipped", 1)]


def test_what_happens_to_a_pallet_happens_to_what_it_holds() -> None:
    result = replay(
        new(
            commission([A], at(0)),
            pack(CASE, [A], at(1)),
            pack(PALLET, [CASE], at(2)),
            ship([PALLET], at(3)),
            unpack(PALLET, [CASE], at(4)),
            receive([A], at(5)),
        )
    )
    assert result.violations == []
    assert result.states[A].status == "received"


def test_a_late_event_is_checked_against_what_happened_after_it() -> None:
    past = stored(commission([A], at(0)), ship([A], at(5)))
    late = new(event("ObjectEvent", at(2), action="DELETE", bizStep="decommissioning", epcList=[A]))
    violations = replay([*past, *late]).violations
    assert [(v.rule, v.event_index) for v in violations] == [("after_decommissioning", 0)]
    assert "recorded event" in violations[0].message
    # A late commissioning that fits is fine, in any order of arrival.
    assert rules(stored(ship([B], at(5))), []) == [("not_commissioned", None)]
    assert rules([], new(ship([B], at(5)), commission([B], at(1)))) == []


def test_sold_once() -> None:
    sale = event("ObjectEvent", at(2), bizStep="retail_selling", epcList=[C])
    assert rules(stored(commission([C], at(0)), sale), new({**sale, "eventTime": "2026-01-05T11:00:00Z"})) == [
        ("already_sold", 0)
    ]


@pytest.mark.parametrize("kind", ["TransactionEvent", "AssociationEvent"])
def test_other_event_types_need_commissioned_items(kind: str) -> None:
    body = (
        event(kind, at(1), bizStep="holding", epcList=[A])
        if kind == "TransactionEvent"
        else event(kind, at(1), action="ADD", parentID="urn:epc:id:giai:4012345.SENSOR1", childEPCs=[A])
    )
    body.setdefault("bizTransactionList", [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:1"}])
    assert rules([], new(body)) == [("not_commissioned", 0)]


def test_transformation_consumes_commissioned_inputs_and_commissions_outputs() -> None:
    making = event("TransformationEvent", at(2), inputEPCList=[A], outputEPCList=[B], bizStep="commissioning")
    result = replay([*stored(commission([A], at(0))), *new(making)])
    assert result.violations == []
    assert result.states[B].status == "commissioned"
    assert [(link.kind, link.source, link.target) for link in result.links] == [("made_into", A, B)]


def test_only_the_focus_is_judged_when_a_history_is_partial() -> None:
    # B's commissioning was recorded with A's; B's own later events are not loaded: B is not judged.
    past = stored(commission([A, B], at(0)), ship([A], at(1)))
    result = replay([*past, *new(ship([B], at(2)))], focus={B})
    assert result.violations == []
    result = replay([*past, *new(ship([A], at(2)))], focus={A})
    assert [v.rule for v in result.violations] == ["already_shipped"]
