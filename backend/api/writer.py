"""Group commit: one writer thread records many concurrent requests in one SQL transaction.

Each request awaits its own result; the writer takes whatever has queued up while the previous
transaction was committing (no artificial wait), runs the domain function for each item in its
own savepoint (a refused item rolls back alone and gets its error; the others go on), commits
once, and only then answers: an answer is never given for data that is not committed.

SQLite has one writer at a time, and every transaction costs a lock hand-over between the API,
sender and indexer processes; committing dozens of purchases per transaction divides that cost.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from backend.db.engine import session_scope, writer
from backend.errors import DomainError

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 256
RESTARTS = 3


@dataclass
class _Job(Generic[T]):
    item: T
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class GroupCommitWriter(Generic[T, R]):
    """Runs ``work(session, item)`` for queued items, many per transaction."""

    def __init__(self, engine: Engine, work: Callable[[Session, T], R], max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.work = work
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job[T] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        """Queue ``item``; return ``work``'s result once committed (or raise its error)."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.put(_Job(item, loop, future))
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
            while len(jobs) < self.max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                jobs.append(job)
            try:
                results = self._commit_batch([job.item for job in jobs])
            except Exception as exc:
                log.warning("writer.batch_failed", error=str(exc), items=len(jobs))
                try:
                    results = self._commit_each([job.item for job in jobs])
                except Exception as inner:  # e.g. the database is gone: answer, don't die
                    results = [inner] * len(jobs)
            self.batches += 1
            self.items += len(jobs)
            for job, result in zip(jobs, results, strict=True):
                try:
                    job.loop.call_soon_threadsafe(_resolve, job.future, result)
                except RuntimeError:  # that request's event loop is gone (client went away)
                    log.info("writer.answer_dropped")

    def _commit_batch(self, items: list[T]) -> list[R | BaseException]:
        """All items in one transaction. Optimistic first: no savepoints (they cost ~10% of a
        purchase); if any item is refused, the batch is rolled back and run again with each
        item in its own savepoint, so that the refused one rolls back alone."""
        for _ in range(RESTARTS):
            results = self._attempt(items, isolate=False)
            if results is not None and not any(isinstance(r, DomainError) for r in results):
                return results
            results = self._attempt(items, isolate=True)
            if results is not None:
                return results
        raise RuntimeError("the batch kept being rolled back")

    def _attempt(self, items: list[T], isolate: bool) -> list[R | BaseException] | None:
        """One try; None when the domain code rolled the whole transaction back."""
        with Session(writer(self.engine), expire_on_commit=False) as session:
            root = session.begin()
            results: list[R | BaseException] = []
            for item in items:
                try:
                    if isolate:
                        with session.begin_nested():
                            results.append(self.work(session, item))
                    else:
                        results.append(self.work(session, item))
                except DomainError as exc:
                    results.append(exc)
                    if not isolate:
                        return results  # rolled back on leaving; the caller isolates
                if not root.is_active:
                    # The domain code rolled back the whole transaction (e.g. on a unique
                    # violation from a concurrent writer): the items before this one are
                    # gone with it. Start the batch again; replays now find the winner.
                    return None
            session.commit()
            return results

    def _commit_each(self, items: list[T]) -> list[R | BaseException]:
        """Fallback: one transaction per item, so one broken item cannot sink the others."""
        results: list[R | BaseException] = []
        for item in items:
            try:
                with session_scope(self.engine) as session:
                    results.append(self.work(session, item))
            except Exception as exc:
                results.append(exc)
        return results


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():  # the client went away
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
