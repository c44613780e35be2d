"""Accepted events are sealed into Merkle batches: full batches at once, a partial one after the
maximum delay, one batch per writing organisation, each event with its inclusion proof."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import Session, col, select

from backend.db.models import EpcisAnchor, EpcisEventRecord, Operation
from backend.db.types import utcnow
from backend.provenance.epcis.anchoring import seal_due
from backend.provenance.epcis.public_form import anchored_hash
from backend.provenance.merkle import event_leaf, verify
from tests.provenance.support import FRESH, Api, at, event, sgtin


def inspections(count: int, start: int = 0) -> list[dict[str, object]]:
    return [
        event("ObjectEvent", at(1 + n), bizStep="inspecting", epcList=[sgtin(FRESH, "SN0001")])
        for n in range(start, start + count)
    ]


def test_full_batches_at_once_partial_ones_after_the_delay(api: Api) -> None:
    api.accept(
        "demo-brand",
        event("ObjectEvent", at(0), action="ADD", bizStep="commissioning", epcList=[sgtin(FRESH, "SN0001")]),
        *inspections(8),
    )
    with Session(api.engine) as session:
        pending = len(session.exec(select(EpcisEventRecord.id)).all())  # the demo's own events wait too
    assert pending % 4  # a partial batch is left
    with Session(api.engine) as session:
        sealed = seal_due(session, batch_size=4, max_delay_ms=60_000)
        session.commit()
    assert [b.count for b in sealed] == [4] * (pending // 4)
    with Session(api.engine) as session:
        assert seal_due(session, batch_size=4, max_delay_ms=60_000) == []  # the rest is not old enough
        late = seal_due(session, batch_size=4, max_delay_ms=60_000, now=utcnow() + timedelta(minutes=2))
        session.commit()
    assert [b.count for b in late] == [pending % 4]

    with Session(api.engine) as session:
        records = session.exec(select(EpcisEventRecord)).all()
        assert all(r.anchor_root for r in records)
        for record in records:
            nodes = [bytes.fromhex(n[2:]) for n in json.loads(record.anchor_proof or "[]")]
            leaf = event_leaf(anchored_hash(record.event_hash, record.event_salt, record.public_hash))
            assert verify(nodes, bytes.fromhex((record.anchor_root or "")[2:]), leaf)
        operations = session.exec(select(Operation).where(Operation.kind == "anchor_events")).all()
        anchors = session.exec(select(EpcisAnchor)).all()
    assert {o.confirm_key for o in operations} == {f"anchor:{a.root}" for a in anchors}
    assert {o.signer for o in operations} == {"org:demo-brand"}


def test_each_organisation_anchors_its_own_events(api: Api) -> None:
    api.organisation("haulier", ["distributor"])
    api.partner("demo-brand", "haulier", ["distributor"])
    api.accept(
        "demo-brand",
        event("ObjectEvent", at(0), action="ADD", bizStep="commissioning", epcList=[sgtin(FRESH, "SN0002")]),
    )
    api.accept("haulier", event("ObjectEvent", at(1), bizStep="inspecting", epcList=[sgtin(FRESH, "SN0002")]))
    with Session(api.engine) as session:
        sealed = seal_due(session, batch_size=256, max_delay_ms=0)
        session.commit()
        signers = session.exec(select(Operation.signer).where(col(Operation.kind) == "anchor_events")).all()
    assert sorted(b.org_id for b in sealed) == ["demo-brand", "haulier"]
    assert sorted(signers) == ["org:demo-brand", "org:haulier"]
