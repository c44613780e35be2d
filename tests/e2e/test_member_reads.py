"""Issue 13: a member's balance and history under concurrency, what invalidates their caches,
and admission control that sheds an overload quickly without losing what it accepted.

No timings: concurrency is made deterministic by holding the work (a gate on the read thread,
SQLite's write lock for the checkout) while the test counts answers.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from backend.api.app import create_app
from backend.api.reads import MemberReads
from backend.db.models import Purchase
from tests.e2e.loyalty_helpers import add_reward, balance, buy, line, on_chain, order
from tests.support import Platform

pytestmark = pytest.mark.chain


def run(coroutine: Callable[[httpx.AsyncClient], Awaitable[Any]], app: Any) -> Any:
    async def main() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await coroutine(client)

    return asyncio.run(main())


class HeldReads:
    """Once ``hold()`` is called, balance reads wait on their read thread until ``release`` is
    set; ``submitted`` counts the reads handed to the read executor since."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.release.set()
        self.submitted = 0

    def hold(self) -> None:
        self.submitted = 0
        self.release.clear()


@pytest.fixture
def held_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldReads]:
    held = HeldReads()
    balance_now, submit = MemberReads.balance_now, MemberReads.balance

    def gated(self: MemberReads, *args: Any, **kwargs: Any) -> Any:
        held.release.wait(timeout=60)
        return balance_now(self, *args, **kwargs)

    async def counted(self: MemberReads, *args: Any, **kwargs: Any) -> Any:
        held.submitted += 1
        return await submit(self, *args, **kwargs)

    monkeypatch.setattr(MemberReads, "balance_now", gated)
    monkeypatch.setattr(MemberReads, "balance", counted)
    yield held
    held.release.set()


async def until(condition: Callable[[], bool]) -> None:
    """Poll (yielding to the event loop) until ``condition`` holds: no clock decides the outcome."""
    for _ in range(60_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


def closed(app: Any) -> None:
    """Stop the threads of an API made by a test (its lifespan never ran)."""
    app.state.credance.member_reads.close()
    app.state.credance.purchases.close()


def test_64_concurrent_balance_reads_complete_and_healthz_answers_during_them(
    platform: Platform, held_reads: HeldReads
) -> None:
    buy(platform, order("R-1", "erin", line("A", 1, "100.00")))
    platform.settle()
    expected = balance(platform, "erin")
    headers = platform.headers()

    async def scenario(client: httpx.AsyncClient) -> tuple[list[httpx.Response], int, bool]:
        held_reads.hold()
        reads = [asyncio.create_task(client.get("/v1/customers/erin/balance", headers=headers)) for _ in range(64)]
        await until(lambda: held_reads.submitted == 64)
        health = await client.get("/healthz")  # while every one of the 64 reads is still held
        none_done = not any(task.done() for task in reads)
        held_reads.release.set()
        return list(await asyncio.gather(*reads)), health.status_code, none_done

    answers, health, none_done_during_healthz = run(scenario, platform.client.app)
    assert (health, none_done_during_healthz) == (200, True)
    assert [a.status_code for a in answers] == [200] * 64
    assert all(a.json() == expected for a in answers)


def test_64_concurrent_reads_through_the_route_and_the_fast_path_agree(platform: Platform) -> None:
    """The FastAPI routes (no fast path) under the same concurrency: no pool or thread stall."""
    buy(platform, order("R-2", "erin", line("A", 2, "100.00")))
    platform.settle()
    routes_only = create_app(platform.settings, platform.engine, read_fast_path=False)
    headers, admin = platform.headers(), platform.headers("admin")

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        gets = [client.get("/v1/customers/erin/balance", headers=headers) for _ in range(32)]
        gets += [client.get("/v1/customers/erin/history", headers=admin) for _ in range(32)]
        return list(await asyncio.gather(*gets))

    try:
        by_route = run(scenario, routes_only)
    finally:
        closed(routes_only)
    fast = run(scenario, platform.client.app)
    assert [r.status_code for r in by_route + fast] == [200] * 128
    assert {r.content for r in by_route[:32]} == {r.content for r in fast[:32]}
    assert {r.content for r in by_route[32:]} == {r.content for r in fast[32:]}


def test_a_new_outbox_operation_or_a_new_block_changes_the_answer_and_its_etag(platform: Platform) -> None:
    """The caches are keyed by the mirror block and read the outbox every time: a pending debit is
    never hidden (``available`` drops at once), and the balance is the chain's at the block claimed."""
    add_reward(platform, "mug", 300)
    buy(platform, order("R-3", "erin", line("A", 1, "1000.00")))
    platform.settle()
    url, admin = "/v1/customers/erin/balance", platform.headers("admin")
    first = platform.client.get(url, headers=platform.headers())
    etag = first.headers["ETag"]
    assert (first.json()["balance"], first.json()["available"]) == (1000, 1000)
    assert platform.client.get(url, headers={**platform.headers(), "If-None-Match": etag}).status_code == 304
    history = platform.client.get("/v1/customers/erin/history", headers=admin)
    history_tag = history.headers["ETag"]
    unchanged = platform.client.get("/v1/customers/erin/history", headers={**admin, "If-None-Match": history_tag})
    assert unchanged.status_code == 304

    # A debit enters the outbox: the same ETag no longer matches, and `available` shows it.
    redeemed = platform.client.post(
        "/v1/customers/erin/redemptions",
        json={"redemption_id": "r1", "reward_id": "mug"},
        headers=platform.as_customer("erin"),
    )
    assert redeemed.status_code == 200, redeemed.text
    pending = platform.client.get(url, headers={**platform.headers(), "If-None-Match": etag})
    assert pending.status_code == 200
    assert (pending.json()["balance"], pending.json()["available"]) == (1000, 700)
    assert pending.json()["as_of_block"] == first.json()["as_of_block"]
    listed = platform.client.get("/v1/customers/erin/history", headers={**admin, "If-None-Match": history_tag})
    assert listed.status_code == 200
    newest = listed.json()["entries"][0]
    assert (newest["kind"], newest["amount"], newest["block_number"]) == ("redeem", -300, None)  # in flight

    # Sent and mined, not yet mirrored: still in flight, still subtracted (never spendable twice).
    platform.sender.step()
    sent = platform.client.get(url, headers=platform.headers()).json()
    assert (sent["balance"], sent["available"], sent["as_of_block"]) == (1000, 700, first.json()["as_of_block"])

    # The indexer mirrors the new block: a new answer, as of that block, equal to the chain.
    platform.indexer.sync()
    mirrored = platform.client.get(url, headers={**platform.headers(), "If-None-Match": pending.headers["ETag"]})
    assert mirrored.status_code == 200
    body = mirrored.json()
    assert body["as_of_block"] > first.json()["as_of_block"]
    assert (body["balance"], body["available"], body["pending"]) == (700, 700, 0)
    assert on_chain(platform, body["address"]) == (700, 0)
    entries = platform.client.get("/v1/customers/erin/history", headers=admin).json()["entries"]
    assert [(e["kind"], e["block_number"] is not None) for e in entries] == [("redemption", True), ("award", True)]


def overload_app(platform: Platform, **limits: int) -> Any:
    """An API whose classes are small: ``admit_<class>`` slots, as many queued, long waits (the
    test, not a clock, decides when the held work ends)."""
    settings = platform.settings.model_copy(update={"admit_max_wait_ms": 10_000, **limits})
    return create_app(settings, platform.engine)


def test_overloaded_reads_are_refused_at_once_and_other_classes_and_healthz_still_answer(
    platform: Platform, held_reads: HeldReads
) -> None:
    buy(platform, order("R-4", "erin", line("A", 1, "100.00")))
    platform.settle()
    app = overload_app(platform, admit_reads=2)  # 2 in flight + 2 queued; the other 16 refused
    headers = platform.headers()

    async def scenario(client: httpx.AsyncClient) -> dict[str, Any]:
        held_reads.hold()
        reads = [asyncio.create_task(client.get("/v1/customers/erin/balance", headers=headers)) for _ in range(20)]
        await until(lambda: sum(task.done() for task in reads) >= 16)
        refused = [task.result() for task in reads if task.done()]
        held = sum(not task.done() for task in reads)  # the refusals came while every admitted read was held
        purchase = await client.post("/v1/purchases", json=order("R-5", "frank"), headers=headers)
        health = await client.get("/healthz")
        held_reads.release.set()
        answers = list(await asyncio.gather(*reads))
        return {
            "refused": refused,
            "held": held,
            "purchase": purchase.status_code,
            "health": health.status_code,
            "answers": answers,
        }

    try:
        out = run(scenario, app)
    finally:
        closed(app)
    assert (len(out["refused"]), out["held"], out["purchase"], out["health"]) == (16, 4, 200, 200)
    for response in out["refused"]:
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["field"] == "request"
        assert response.json()["error"]["route_class"] == "reads"
    assert sorted(r.status_code for r in out["answers"]) == [200] * 4 + [503] * 16


@pytest.mark.sqlite_only  # holds SQLite's write lock from a second connection
def test_overloaded_checkout_sheds_the_excess_and_loses_nothing_it_accepted(platform: Platform) -> None:
    app = overload_app(platform, admit_checkout=3)  # 3 in flight + 3 queued; the other 14 refused
    headers = platform.headers()
    blocker = sqlite3.connect(Path(str(platform.engine.url.database)), isolation_level=None, check_same_thread=False)

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        await client.get("/v1/customers/erin/balance", headers=headers)  # the key is verified and cached
        blocker.execute("BEGIN IMMEDIATE")  # the writer cannot commit: admitted purchases are held
        try:
            sent = [
                asyncio.create_task(client.post("/v1/purchases", json=order(f"O-{n}", "gina"), headers=headers))
                for n in range(20)
            ]
            await until(lambda: sum(task.done() for task in sent) >= 14)
            assert sum(not task.done() for task in sent) == 6  # refused while all admitted were held
            health = await client.get("/healthz")
            assert health.status_code == 200
        finally:
            blocker.execute("COMMIT")
        answers = list(await asyncio.gather(*sent))
        after = await client.post("/v1/purchases", json=order("O-after", "gina"), headers=headers)
        return [*answers, after]

    try:
        answers = run(scenario, app)
    finally:
        blocker.close()
        closed(app)
    *overload, after = answers
    accepted = sorted(f"O-{n}" for n, r in enumerate(overload) if r.status_code == 200)
    refused = [r for r in overload if r.status_code != 200]
    assert (len(accepted), len(refused), after.status_code) == (6, 14, 200)
    assert all(r.status_code == 503 and r.headers["Retry-After"] == "1" for r in refused)
    with Session(platform.engine) as session:
        recorded = session.exec(select(Purchase.order_id).where(col(Purchase.order_id).like("O-%"))).all()
    assert sorted(recorded) == sorted([*accepted, "O-after"])  # every accepted one, no refused one
    platform.settle()
    view = balance(platform, "gina")
    assert view["balance"] == 7 * 100  # the six accepted during the overload and the one after, 100 points each
    assert on_chain(platform, view["address"]) == (700, 0)
