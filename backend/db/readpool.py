"""The read executor: a few threads, each with its own database connection, for the hot reads
(a member's balance and history).

Why not the SQLAlchemy pool and a session per request: a session lives across the request's
awaits, so its connection is held while the event loop does other work (the stall of issue 13),
and building ORM statements costs more CPU than the indexed look-ups themselves. Here a read is
one call on one thread: it takes the thread's connection, runs a few fixed statements on the
driver and returns; the connection never leaves the thread. ``read_threads`` threads are exactly
``read_threads`` connections (the process budget, backend/api/budget.py).

Consistency: a read that runs several statements runs them in one snapshot
(``ReadConnection.snapshot``): on SQLite one deferred read transaction (WAL: a reader sees the
database as of its first statement), on PostgreSQL one ``REPEATABLE READ READ ONLY`` transaction.
A single statement is its own snapshot on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from backend.batches import next_batch
from backend.db.engine import is_sqlite

T = TypeVar("T")


class ReadConnection:
    """One DB-API connection of one read thread. SQL is written with ``?`` placeholders."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        self._raw: Any = None

    @property
    def raw(self) -> Any:
        if self._raw is None:
            self._raw = self._connect()
        return self._raw

    def _connect(self) -> Any:
        if self.sqlite:
            database = make_url(self.url).database or ":memory:"
            conn = sqlite3.connect(database, check_same_thread=False, timeout=30, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA query_only=1")  # a read connection never writes, even by mistake
            return conn
        import psycopg

        conninfo = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        pg = psycopg.connect(conninfo, autocommit=True)  # one statement: one round trip, no BEGIN
        pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # for `snapshot()`
        pg.read_only = True
        return pg

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        found: list[tuple[Any, ...]]
        if self.sqlite:
            found = self.raw.execute(sql, params).fetchall()
            return found
        with self.raw.cursor() as cursor:
            cursor.execute(_pg(sql), params)
            found = cursor.fetchall()
            return found

    def row(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    @contextmanager
    def snapshot(self) -> Iterator[ReadConnection]:
        """Every statement inside sees the same committed state of the database."""
        if self.sqlite:
            self.raw.execute("BEGIN")
            try:
                yield self
            finally:
                self.raw.execute("COMMIT")  # a read transaction: COMMIT only ends it
            return
        with self.raw.transaction():  # BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY … COMMIT
            yield self

    def close(self) -> None:
        if self._raw is not None:
            try:
                self._raw.close()
            finally:
                self._raw = None


_PG_CACHE: dict[str, str] = {}


def _pg(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (our SQL has no other ``?`` or ``%``)."""
    found = _PG_CACHE.get(sql)
    if found is None:
        found = _PG_CACHE[sql] = sql.replace("?", "%s")
    return found


def _broken(exc: BaseException) -> bool:
    """A failure of the connection itself (the server restarted, the socket broke)."""
    if isinstance(exc, sqlite3.Error):
        return False
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


class _Job:
    __slots__ = ("future", "loop", "work")

    def __init__(
        self, work: Callable[[ReadConnection], Any], loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]
    ) -> None:
        self.work, self.loop, self.future = work, loop, future


class ReadPool:
    """``threads`` threads, each with its own ``ReadConnection``; ``run`` from the event loop.

    A thread takes every read queued when it wakes (up to ``batch``), runs them one after the
    other and wakes each waiting event loop once for all its answers (as the group-commit writer
    does): under load a thread hop and a loop wake-up are shared by many reads instead of paid by
    each — on two cores they cost more than the indexed statements themselves.
    """

    def __init__(self, url: str, threads: int, batch: int = 16) -> None:
        self.url = url
        self.threads = threads
        self.batch = batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._local = threading.local()
        self._all: list[ReadConnection] = []
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def connection(self) -> ReadConnection:
        """This thread's connection (opened on first use)."""
        conn: ReadConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = ReadConnection(self.url)
            with self._lock:
                self._all.append(conn)
        return conn

    def call(self, work: Callable[[ReadConnection], T]) -> T:
        """Run ``work`` on this thread's connection; once more on a fresh one if it broke."""
        conn = self.connection()
        try:
            return work(conn)
        except Exception as exc:
            if not _broken(exc):
                raise
            conn.close()
            return work(conn)

    async def run(self, work: Callable[[ReadConnection], T]) -> T:
        """``work`` on a read thread (from the event loop)."""
        if len(self._workers) < self.threads:
            self._start_workers()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(work, loop, future))
        return await future

    def _start_workers(self) -> None:
        with self._lock:
            while len(self._workers) < self.threads:
                worker = threading.Thread(target=self._serve, name=f"reads-{len(self._workers)}", daemon=True)
                worker.start()
                self._workers.append(worker)

    def _serve(self) -> None:
        while True:
            jobs = next_batch(self._queue, self.batch)
            if jobs is None:
                return
            answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
            for job in jobs:
                try:
                    result: Any = self.call(job.work)
                except BaseException as exc:
                    result = exc
                answers.setdefault(job.loop, []).append((job.future, result))
            for loop, results in answers.items():
                with contextlib.suppress(RuntimeError):  # that event loop is gone
                    loop.call_soon_threadsafe(_resolve_all, results)

    def close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for _ in workers:
            self._queue.put(None)
        for worker in workers:
            worker.join(timeout=10)
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


def _resolve_all(results: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, result in results:
        if future.done():  # the client went away
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
