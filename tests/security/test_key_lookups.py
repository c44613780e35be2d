"""Key verdicts on the event loop: when a busy key's cached verdict expires, the requests in flight
wait for one database lookup instead of each taking a thread and a pool connection (single flight),
and a revoked or unknown key is still refused by that one lookup."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from backend.api.auth import KeyVerifier, Principal, Role, create_api_key, digest, revoke_api_key
from backend.db.engine import make_engine

pytestmark = pytest.mark.sqlite_only


class CountingVerifier(KeyVerifier):
    """The real verifier on a real database, counting the lookups that reach it; each lookup waits
    until released, so that every request of a burst arrives while it is under way."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.lookups = 0
        self.release = threading.Event()

    def _lookup(self, key: str, key_hash: str) -> Principal | None:
        self.lookups += 1
        self.release.wait(timeout=10)
        return super()._lookup(key, key_hash)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _key(engine: Engine) -> tuple[str, str]:
    with Session(engine) as session:
        key, record = create_api_key(session, Role.ADMIN)
        key_id = record.key_id
        session.commit()
    return key, key_id


async def _burst(verifier: CountingVerifier, key: str, size: int) -> list[Principal | None]:
    requests = [asyncio.create_task(verifier.verify_async(key)) for _ in range(size)]
    await asyncio.sleep(0.05)  # every request is waiting now
    verifier.release.set()
    return await asyncio.gather(*requests)


def _expire(verifier: KeyVerifier, key: str) -> None:
    _, principal = verifier._cache[digest(key)]
    verifier._cache[digest(key)] = (0.0, principal)


def test_a_burst_on_an_expired_verdict_makes_one_lookup(engine: Engine) -> None:
    key, key_id = _key(engine)
    verifier = CountingVerifier(engine)

    first = asyncio.run(_burst(verifier, key, 64))
    assert verifier.lookups == 1
    assert {p.key_id if p else None for p in first} == {key_id}
    assert all(p is not None and p.role is Role.ADMIN for p in first)

    _expire(verifier, key)
    verifier.release.clear()
    again = asyncio.run(_burst(verifier, key, 64))
    assert verifier.lookups == 2
    assert all(p is not None and p.key_id == key_id for p in again)


def test_a_revoked_key_is_refused_by_the_one_lookup(engine: Engine) -> None:
    key, key_id = _key(engine)
    verifier = CountingVerifier(engine)
    verifier.release.set()
    assert asyncio.run(verifier.verify_async(key)) is not None

    with Session(engine) as session:
        assert revoke_api_key(session, key_id)
        session.commit()
    _expire(verifier, key)
    verifier.release.clear()
    assert asyncio.run(_burst(verifier, key, 32)) == [None] * 32
    assert verifier.lookups == 2

    # a key that never existed: refused, each burst one lookup
    unknown = key[:-4] + "AAAA"
    verifier.release.clear()
    assert asyncio.run(_burst(verifier, unknown, 16)) == [None] * 16
    assert verifier.lookups == 3


def test_a_cancelled_request_does_not_leave_the_others_without_an_answer(engine: Engine) -> None:
    key, key_id = _key(engine)
    verifier = CountingVerifier(engine)

    async def scenario() -> list[Principal | None]:
        leader = asyncio.create_task(verifier.verify_async(key))
        await asyncio.sleep(0.02)
        waiters = [asyncio.create_task(verifier.verify_async(key)) for _ in range(8)]
        await asyncio.sleep(0.02)
        leader.cancel()  # its client went away while the lookup ran
        waiters[0].cancel()  # and so did one of the waiters'
        verifier.release.set()
        with pytest.raises(asyncio.CancelledError):
            await waiters[0]
        return await asyncio.gather(*waiters[1:])

    answers = asyncio.run(scenario())
    assert all(p is not None and p.key_id == key_id for p in answers)
    assert verifier.lookups <= 2
