"""Engines and sessions for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from backend.db.checkpoint import JOURNAL_SIZE_LIMIT, WalCheckpointer, writers_lock_path
from backend.home import secure_sqlite_files


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # We issue BEGIN ourselves (see _WriterQueue.begin), so pysqlite must not.
    dbapi_connection.isolation_level = None
    # WAL lets readers run beside the one writer; NORMAL sync is durable across process
    # crashes (only an OS crash can lose the last commits); busy_timeout queues writers
    # of other processes (API, sender, indexer) instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Never checkpoint inside a commit, while every writer waits (checkpoint.py does it aside).
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class _WriterQueue:
    """Queues the SQLite writers of every process on an advisory file lock.

    SQLite's own wait for its write lock polls (sleeping up to 100 ms between tries), so a
    process that writes back to back (the API's group commit under load) keeps winning and the
    sender and indexer starve. A blocked ``flock`` is woken by the kernel as soon as the lock
    is released, so every writer gets its turn promptly.

    A thread that already holds the lock (a write transaction opened inside another one) does
    not wait for itself: it falls back to SQLite's own wait, which times out with an error
    instead of hanging.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._held = threading.local()

    def begin(self, connection: Any) -> None:
        # Writers take the lock up front (BEGIN IMMEDIATE): a deferred transaction that reads and
        # then writes fails at once with SQLITE_BUSY when another process wrote in between.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE" and not getattr(self._held, "locked", False):
            info = connection.connection.info
            if "writer_fd" not in info:
                info["writer_fd"] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(info["writer_fd"], fcntl.LOCK_EX)
            info["writer_locked"] = True
            self._held.locked = True
        try:
            connection.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            self.end(connection)
            raise

    def end(self, connection: Any) -> None:
        info = connection.connection.info
        if info.pop("writer_locked", False):
            fcntl.flock(info["writer_fd"], fcntl.LOCK_UN)
            self._held.locked = False


def _begin_plain(connection: Any) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, pool_size: int | None = None) -> Engine:
    """An engine for ``url``. ``pool_size``: exactly that many pooled connections and no overflow
    (the API process sizes its pool from its budget, backend/api/budget.py); by default SQLite
    keeps SQLAlchemy's pool and PostgreSQL 10 (+ 10 overflow)."""
    sized = {} if pool_size is None else {"pool_size": pool_size, "max_overflow": 0}
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            # Personal data and encrypted keys: 0600, and so are the WAL and SHM files SQLite makes.
            secure_sqlite_files(Path(database))
        in_memory = not database or database == ":memory:"  # one shared connection: nothing to size
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **({} if in_memory else sized)
        )
        event.listen(engine, "connect", _tune_sqlite)
        if database and database != ":memory:":
            WalCheckpointer.watch(engine, Path(database))
            queue = _WriterQueue(writers_lock_path(Path(database)))
            event.listen(engine, "begin", queue.begin)
            event.listen(engine, "commit", queue.end)
            event.listen(engine, "rollback", queue.end)
        else:
            event.listen(engine, "begin", _begin_plain)
        return engine
    return create_engine(url, pool_pre_ping=True, **(sized or {"pool_size": 10, "max_overflow": 10}))


def writer(engine: Engine) -> Engine:
    """The same engine, but its transactions take SQLite's write lock when they begin."""
    return engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(str(engine.url)) else engine


@contextmanager
def session_scope(engine: Engine, write: bool = True) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(writer(engine) if write else engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
