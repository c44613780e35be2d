"""Anchoring: accepted events wait in SQL; full batches (``anchor_batch_size``) are sealed at
once, a partial one when its oldest event has waited ``anchor_max_delay_ms``. Sealing builds the
Merkle tree of the batch's anchored values (each binds an event's CBV hash and its public form),
gives each event its inclusion proof, and queues one ``anchor_events`` operation in the outbox,
signed by the organisation that wrote the events.

Only the anchorer seals (one process), so two sealers never race for the same events; the
conditional update below would refuse it anyway.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from backend.chain.operations import AnchorEvents, enqueue
from backend.db.engine import session_scope
from backend.db.models import EpcisAnchor, EpcisEventRecord
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.provenance.epcis.public_form import anchored_hash
from backend.provenance.merkle import MerkleTree, event_leaf
from backend.provenance.organisations import admission_operation

log = structlog.get_logger(__name__)


class SealRace(RuntimeError):
    """Another sealer took some of these events first."""


@dataclass(frozen=True)
class SealedBatch:
    root: str
    org_id: str
    count: int


def _pending_by_org(session: Session) -> dict[str, tuple[int, datetime]]:
    """Organisation → (events waiting, when the oldest was recorded)."""
    rows = session.exec(
        select(EpcisEventRecord.org_id, func.count(), func.min(EpcisEventRecord.recorded_at))
        .where(col(EpcisEventRecord.anchor_root).is_(None))
        .group_by(col(EpcisEventRecord.org_id))
    ).all()
    return {org: (int(count), oldest) for org, count, oldest in rows}


def seal(session: Session, org_id: str, limit: int) -> SealedBatch:
    """Seal the oldest ``limit`` unanchored events of ``org_id`` into one batch."""
    pending = session.exec(
        select(
            EpcisEventRecord.id, EpcisEventRecord.event_hash, EpcisEventRecord.event_salt, EpcisEventRecord.public_hash
        )
        .where(col(EpcisEventRecord.anchor_root).is_(None), EpcisEventRecord.org_id == org_id)
        .order_by(col(EpcisEventRecord.id))
        .limit(limit)
    ).all()
    # What is anchored binds the CBV hash (under the event's salt) and the public form (public_form.py).
    tree = MerkleTree.build([event_leaf(anchored_hash(h, salt, public)) for _, h, salt, public in pending])
    root = "0x" + tree.root.hex()
    session.add(EpcisAnchor(root=root, org_id=org_id, count=len(pending)))
    session.flush()
    table = table_of(EpcisEventRecord)
    for index, (event_id, *_) in enumerate(pending):
        proof = json.dumps(["0x" + p.hex() for p in tree.proof(index)])
        changed = session.execute(
            update(table)
            .where(table.c.id == event_id, table.c.anchor_root.is_(None))
            .values(anchor_root=root, anchor_proof=proof)
        ).rowcount  # type: ignore[attr-defined]
        if changed != 1:
            raise SealRace(f"event {event_id} was sealed by someone else")
    admitted = admission_operation(session, org_id)
    enqueue(session, AnchorEvents(org=org_id, root=root, count=len(pending)), after=admitted)
    return SealedBatch(root, org_id, len(pending))


def seal_due(
    session: Session, batch_size: int, max_delay_ms: int, now: datetime | None = None, force: bool = False
) -> list[SealedBatch]:
    """Seal every full batch, and every partial batch that has waited long enough (or all, ``force``)."""
    now = now or utcnow()
    sealed: list[SealedBatch] = []
    for org_id, (count, oldest) in sorted(_pending_by_org(session).items()):
        while count >= batch_size:
            sealed.append(seal(session, org_id, batch_size))
            count -= batch_size
        if count and (force or now - oldest >= timedelta(milliseconds=max_delay_ms)):
            sealed.append(seal(session, org_id, count))
    return sealed


class Anchorer:
    """The sealing loop (`credance provenance anchorer`, supervised by `credance run`)."""

    def __init__(self, engine: Engine, batch_size: int, max_delay_ms: int) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.max_delay_ms = max_delay_ms

    def step(self, force: bool = False) -> list[SealedBatch]:
        with session_scope(self.engine) as session:
            sealed = seal_due(session, self.batch_size, self.max_delay_ms, force=force)
        for batch in sealed:
            log.info("anchorer.sealed", root=batch.root, org=batch.org_id, events=batch.count)
        return sealed

    def run(self, stop: threading.Event, poll_seconds: float) -> None:
        while not stop.is_set():
            try:
                self.step()
            except Exception as exc:  # a database hiccup: try again on the next tick
                log.warning("anchorer.error", error=str(exc))
            stop.wait(poll_seconds)
