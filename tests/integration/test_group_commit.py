"""The group-commit writer on a real database: many purchases per transaction, a refused one
writing nothing, answered only once committed."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from backend.api.writer import GroupCommitWriter
from backend.cli.seed import seed_demo
from backend.db.checkpoint import writers_lock_path
from backend.db.models import Customer, Operation, Purchase, Store
from backend.errors import DomainError, Unprocessable
from backend.loyalty.purchases import PurchaseInput, PurchaseLineInput, PurchaseOutcome, record_purchases
from backend.settings import Settings


@pytest.fixture
def seeded(engine: Engine, settings: Settings) -> Engine:
    seed_demo(engine, settings, 31337)
    return engine


def purchase(n: int, customer: str | None = None, paid_with_points: int = 0) -> PurchaseInput:
    return PurchaseInput(
        order_id=f"G-{n}",
        customer_id=customer or f"group-{n % 5}",
        store_id="demo-store",
        currency="USD",
        lines=[PurchaseLineInput("COFFEE", 1, Decimal("10"))],
        paid_with_points=paid_with_points,
    )


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


async def submit_all(writer: GroupCommitWriter, items: list) -> list:  # type: ignore[type-arg]
    return await asyncio.gather(*(writer.submit(item) for item in items), return_exceptions=True)


def database_file(engine: Engine) -> Path:
    return Path(str(engine.url.database))


@pytest.mark.sqlite_only  # holds SQLite's write lock from a second connection
def test_concurrent_purchases_share_transactions_and_all_commit(seeded: Engine) -> None:
    writer: GroupCommitWriter[PurchaseInput, PurchaseOutcome] = GroupCommitWriter(seeded, record_purchases)
    # Hold SQLite's write lock so that the purchases queue up behind the first one.
    blocker = sqlite3.connect(database_file(seeded), isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    released = threading.Timer(1.0, blocker.execute, args=("COMMIT",))
    released.start()
    try:
        results = asyncio.run(submit_all(writer, [purchase(n) for n in range(50)]))
    finally:
        released.join()
        blocker.close()
        writer.close()
    assert all(isinstance(r, PurchaseOutcome) and not r.replayed for r in results)
    assert writer.items == 50
    assert writer.batches <= 2  # the 49 that waited went in together
    assert count(seeded, Purchase) == 50
    assert count(seeded, Operation) >= 50


@pytest.mark.sqlite_only  # queues behind another process's writer on the writers' file lock
def test_purchases_arriving_while_the_writer_waits_for_the_lock_join_its_transaction(seeded: Engine) -> None:
    writer: GroupCommitWriter[PurchaseInput, PurchaseOutcome] = GroupCommitWriter(seeded, record_purchases)
    # Another process's writer holds the lock (as the sender or the indexer does) for 0.6 s.
    other_writer = os.open(writers_lock_path(database_file(seeded)), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(other_writer, fcntl.LOCK_EX)
    released = threading.Timer(0.6, os.close, args=(other_writer,))
    released.start()

    async def first_then_the_rest() -> list:  # type: ignore[type-arg]
        first = asyncio.ensure_future(writer.submit(purchase(0)))
        await asyncio.sleep(0.3)  # the writer has taken the first and waits for the lock
        rest = [asyncio.ensure_future(writer.submit(purchase(n))) for n in range(1, 50)]
        return await asyncio.gather(first, *rest)

    try:
        results = asyncio.run(first_then_the_rest())
    finally:
        released.join()
        writer.close()
    assert all(isinstance(r, PurchaseOutcome) for r in results)
    assert (writer.batches, writer.items) == (1, 50)  # one transaction, not the first alone
    assert count(seeded, Purchase) == 50


def test_a_refused_purchase_rolls_back_alone(seeded: Engine) -> None:
    writer: GroupCommitWriter[PurchaseInput, PurchaseOutcome] = GroupCommitWriter(seeded, record_purchases)
    customers_before = count(seeded, Customer)
    items = [purchase(1), purchase(2, customer="overspender", paid_with_points=10**9), purchase(3)]
    try:
        results = asyncio.run(submit_all(writer, items))
    finally:
        writer.close()
    assert isinstance(results[0], PurchaseOutcome)
    assert isinstance(results[1], Unprocessable)
    assert results[1].field == "paid_with_points"
    assert isinstance(results[2], PurchaseOutcome)
    with Session(seeded) as session:
        assert session.exec(select(Purchase.order_id).order_by(Purchase.order_id)).all() == ["G-1", "G-3"]
        assert session.exec(select(Customer).where(Customer.external_id == "overspender")).first() is None
    assert count(seeded, Customer) == customers_before + 2


def test_a_replay_within_one_batch_returns_the_first_answer(seeded: Engine) -> None:
    writer: GroupCommitWriter[PurchaseInput, PurchaseOutcome] = GroupCommitWriter(seeded, record_purchases)
    try:
        results = asyncio.run(submit_all(writer, [purchase(7)] * 5))
    finally:
        writer.close()
    assert [r.replayed for r in results] == [False, True, True, True, True]
    assert len({str(r.body) for r in results}) == 1
    assert count(seeded, Purchase) == 1


@pytest.mark.sqlite_only  # holds SQLite's write lock from a second connection
def test_a_batch_rolled_back_by_the_domain_code_is_run_again(seeded: Engine) -> None:
    """If the work function rolls the whole transaction back, the batch runs again: the items
    before the rollback are not lost."""
    calls: list[str] = []

    def work(session: Session, names: list[str]) -> list[str | DomainError]:
        results: list[str | DomainError] = []
        for name in names:
            calls.append(name)
            session.add(Store(id=name, name=name, currency="USD", retailer_id="demo-retailer"))
            session.flush()
            if name == "b" and calls.count("b") == 1:
                session.rollback()  # throws away "a" too
            results.append("recorded")
        return results

    writer: GroupCommitWriter[str, str] = GroupCommitWriter(seeded, work)
    blocker = sqlite3.connect(database_file(seeded), isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    threading.Timer(0.5, blocker.execute, args=("COMMIT",)).start()
    try:
        results = asyncio.run(submit_all(writer, ["a", "b", "c"]))
    finally:
        time.sleep(0.6)
        blocker.close()
        writer.close()
    with Session(seeded) as session:
        stores = set(session.exec(select(Store.id)).all())
    assert {"a", "b", "c"} <= stores
    assert results[0] == "recorded"
    assert results[2] == "recorded"


@pytest.mark.sqlite_only  # holds SQLite's write lock from a second connection
def test_a_client_that_went_away_does_not_stop_the_writer(seeded: Engine) -> None:
    writer: GroupCommitWriter[PurchaseInput, PurchaseOutcome] = GroupCommitWriter(seeded, record_purchases)
    blocker = sqlite3.connect(database_file(seeded), isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")

    async def impatient() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(writer.submit(purchase(1)), timeout=0.2)

    try:
        asyncio.run(impatient())  # its event loop is closed before the writer answers
        blocker.execute("COMMIT")
        later = asyncio.run(submit_all(writer, [purchase(2)]))
    finally:
        blocker.close()
        writer.close()
    assert isinstance(later[0], PurchaseOutcome)
    # The abandoned purchase was committed all the same: a retry of it is a replay.
    with Session(seeded) as session:
        assert set(session.exec(select(Purchase.order_id)).all()) == {"G-1", "G-2"}
