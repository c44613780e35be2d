"""Group commit: one writer thread records many concurrent requests in one SQL transaction.

Each request awaits its own result. The writer waits for a first request, opens its transaction
(on SQLite that is the wait for the write lock, which the sender and indexer share), and only
then takes whatever has queued up meanwhile (no artificial wait): requests that arrive while it
waits for the lock join this transaction instead of waiting for the next one. It hands the batch to the domain function
(``work(session, items)``: one result or domain error per item, a refused item having written
nothing), commits once, and only then answers: an answer is never given for data that is not
committed.

SQLite has one writer at a time, and every transaction costs a lock hand-over between the API,
sender and indexer processes; committing hundreds of purchases per transaction divides that
cost, and lets the domain code write them with a few bulk statements.

If the transaction fails (a concurrent writer recorded the same order or enrolled the same
customer first, a deadlock), the batch is run again from the start: the domain code then finds
what the other writer committed (a replay). If it keeps failing, each item gets a transaction of
its own, so that one broken item cannot sink the others.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from backend.batches import take_waiting
from backend.db.direct import DATABASE_ERRORS
from backend.db.engine import session_scope, writer
from backend.errors import DomainError

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 256
RESTARTS = 3

# The domain function: one result per item, or the DomainError that refused it.
BatchWork = Callable[[Session, list[T]], list[R | DomainError]]


@dataclass
class Job(Generic[T]):
    """A request waiting for the writer: its item, and the event loop and future that await the answer."""

    item: T
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class GroupCommitWriter(Generic[T, R]):
    """Runs ``work(session, items)`` for queued items, many per transaction."""

    def __init__(self, engine: Engine, work: BatchWork[T, R], max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        # Made once: ``writer(engine)`` builds a new option engine (its event dispatch, the URL
        # parsed again) on every call, a few thousand opcodes a batch.
        self._writer_engine = writer(engine)
        self.work = work
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Job[T] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        """Queue ``item``; return ``work``'s result once committed (or raise its error)."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.put(Job(item, loop, future))
        return await future

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    # -- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            results: Sequence[R | BaseException]
            try:
                results = self._commit_batch(jobs)
            except Exception as exc:
                log.warning("writer.batch_failed", error=str(exc), items=len(jobs))
                try:
                    results = self._commit_each([job.item for job in jobs])
                except Exception as inner:  # e.g. the database is gone: answer, don't die
                    results = [inner] * len(jobs)
            self.batches += 1
            self.items += len(jobs)
            self._answer(jobs, results)

    @staticmethod
    def _answer(jobs: list[Job[T]], results: Sequence[R | BaseException]) -> None:
        """Wake each waiting event loop once for all of its answers (not once per request)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for job, result in zip(jobs, results, strict=True):
            by_loop.setdefault(job.loop, []).append((job.future, result))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve_all, answers)
            except RuntimeError:  # that event loop is gone (its client went away)
                log.info("writer.answer_dropped", answers=len(answers))

    def _commit_batch(self, jobs: list[Job[T]]) -> list[R | DomainError]:
        """All jobs in one transaction, run again from the start if it fails. The first try adds
        to ``jobs`` those that queued while it waited for the transaction."""
        for attempt in range(1, RESTARTS + 1):
            try:
                results = self._attempt(jobs, gather=attempt == 1)
            except DATABASE_ERRORS as exc:  # a unique key another writer took first, a deadlock…
                if attempt == RESTARTS:
                    raise
                log.info("writer.batch_restarted", error=str(exc).splitlines()[0][:200], items=len(jobs))
                continue
            if results is not None:
                return results
        raise RuntimeError("the batch kept being rolled back")

    def _attempt(self, jobs: list[Job[T]], gather: bool) -> list[R | DomainError] | None:
        """One try; None when the domain code rolled the whole transaction back."""
        with Session(self._writer_engine, expire_on_commit=False) as session:
            root = session.begin()
            session.connection()  # begins now: on SQLite, once the other processes' writers are done
            if gather:
                take_waiting(self._queue, jobs, self.max_batch)
            results = self.work(session, [job.item for job in jobs])
            if not root.is_active:
                # The domain code rolled the transaction back: whatever it wrote is gone.
                return None
            session.commit()
            return results

    def _commit_each(self, items: list[T]) -> list[R | BaseException]:
        """Fallback: one transaction per item, so one broken item cannot sink the others."""
        results: list[R | BaseException] = []
        for item in items:
            try:
                with session_scope(self.engine) as session:
                    results.extend(self.work(session, [item]))
            except Exception as exc:
                results.append(exc)
        return results


def _resolve_all(answers: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, result in answers:
        if future.done():  # the client went away
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
