"""What only a PostgreSQL server can show: several writers at once. The outbox claim skips rows
another sender holds (``FOR UPDATE SKIP LOCKED``), and the indexer's checkpoint row serialises
indexers across connections."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import Session

from backend.chain.outbox import claim
from backend.db.models import Operation, OperationStatus
from backend.db.schema import table_of
from backend.indexer.runner import CursorMoved, Indexer
from tests.integration.test_sender import buy
from tests.support import Platform

pytestmark = [pytest.mark.chain, pytest.mark.postgres_only]


def test_the_outbox_claim_skips_operations_another_sender_holds(platform: Platform) -> None:
    ids = buy(platform, 4, prefix="SKIP")
    with Session(platform.engine) as first, Session(platform.engine) as second:
        assert claim(first, ids[:2]) == set(ids[:2])  # rows locked until `first` ends
        assert claim(second, ids) == set(ids[2:])  # skipped, not waited for
        ops = table_of(Operation)
        first.execute(update(ops).where(ops.c.id.in_(ids[:2])).values(status=OperationStatus.SENT))
        first.commit()
        second.rollback()
        assert claim(second, ids) == set(ids[2:])  # what the first sender took is no longer pending
        second.rollback()


def test_a_second_indexer_finds_the_checkpoint_moved_and_applies_nothing_twice(platform: Platform) -> None:
    buy(platform, 1, prefix="LOCK")
    platform.sender.step()
    leader, other = Indexer(platform.engine, platform.ctx), Indexer(platform.engine, platform.ctx)
    expected = other._read_cursor()
    assert leader.step() is not None
    with Session(platform.engine) as session, pytest.raises(CursorMoved):
        other._claim_cursor(session, expected)
    assert other.step() is None  # reading again, it is at the head: nothing applied twice
    platform.assert_mirror_matches_chain()
