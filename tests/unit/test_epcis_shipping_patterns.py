"""Standard shipping patterns the business rules must accept (issue 16, defects 2-4): the
despatch-advice pattern (an ObjectEvent shipping and a TransactionEvent for the same goods at the
same time), receiving an aggregated pallet that lists its children (both forms), and receiving a
newly commissioned item with ObjectEvent ADD (see docs/epcis.md, "ADD with receiving")."""

from __future__ import annotations

from backend.provenance.epcis.replay import replay
from tests.provenance.support import at, commission, event, pack, receive, ship
from tests.unit.test_epcis_replay import new

A, B = (f"https://id.gs1.org/01/09506000134352/21/S{n}" for n in (1, 2))
PALLET = "urn:epc:id:sscc:0614141.1234567891"
DESADV = [{"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:1"}]


def test_a_transaction_event_beside_the_shipment_is_not_a_second_shipment() -> None:
    result = replay(
        new(
            commission([A, B], at(0)),
            ship([A, B], at(1)),
            event(
                "TransactionEvent", at(1), action="ADD", bizStep="shipping", epcList=[A, B], bizTransactionList=DESADV
            ),
            receive([A, B], at(2), bizTransactionList=DESADV),
        )
    )
    assert result.violations == []
    assert result.states[A].status == "received"


def test_a_transaction_event_names_the_transaction_a_receipt_is_matched_with() -> None:
    other = [{"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:2"}]
    result = replay(
        new(
            commission([A], at(0)),
            ship([A], at(1)),
            event("TransactionEvent", at(1), action="ADD", bizStep="shipping", epcList=[A], bizTransactionList=DESADV),
            receive([A], at(2), bizTransactionList=other),
        )
    )
    assert [v.rule for v in result.violations] == ["receipt_mismatch"]


def test_receiving_a_pallet_that_lists_its_children_aggregation_form() -> None:
    result = replay(
        new(
            commission([A, B], at(0)),
            pack(PALLET, [A, B], at(1)),
            ship([PALLET], at(2)),
            event(
                "AggregationEvent",
                at(3),
                bizStep="receiving",
                parentID=PALLET,
                childEPCs=[A, B],
                disposition="in_progress",
            ),
        )
    )
    assert result.violations == []
    assert result.states[A].status == "received"


def test_receiving_a_pallet_that_lists_its_children_object_event_form() -> None:
    result = replay(
        new(
            commission([A, B], at(0)),
            pack(PALLET, [A, B], at(1)),
            ship([PALLET], at(2)),
            receive([PALLET, A, B], at(3)),
        )
    )
    assert result.violations == []


def test_shipping_a_pallet_that_lists_its_children_is_one_shipment() -> None:
    result = replay(
        new(
            commission([A, B], at(0)),
            pack(PALLET, [A, B], at(1)),
            event("AggregationEvent", at(2), bizStep="shipping", parentID=PALLET, childEPCs=[A, B]),
            receive([PALLET], at(3)),
        )
    )
    assert result.violations == []


def test_add_with_receiving_commissions_and_receives_a_new_item() -> None:
    result = replay(new(event("ObjectEvent", at(0), action="ADD", bizStep="receiving", epcList=[A])))
    assert result.violations == []
    assert result.states[A].status == "received"


def test_add_with_receiving_of_an_item_already_commissioned_is_refused() -> None:
    result = replay(
        new(commission([A], at(0)), event("ObjectEvent", at(1), action="ADD", bizStep="receiving", epcList=[A]))
    )
    assert [v.rule for v in result.violations] == ["already_commissioned"]
