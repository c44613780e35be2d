"""SQLite's write-ahead-log checkpoints, off the writers' path.

By default SQLite checkpoints inside a ``COMMIT``: once the WAL holds 1,000 pages, the committing
connection copies the log into the database file and syncs it. Every process's writers queue on
one file lock (``_WriterQueue`` in ``engine.py``) held until the commit returns, so a checkpoint's
syncs were waited for by every writer of every process: the checkout's group commit took 7 ms on
average and up to 80 ms under load, most of it in checkpoints. Worse, with readers arriving all the
time the log is rarely checkpointed to its end, so it is never started again from its beginning:
it grew to 36 MB in 15 s of checkout and to 53 MB in the mixed load, and past 1,000 pages *every*
commit tried a checkpoint.

So our connections never checkpoint on commit (``wal_autocheckpoint=0``, set in ``engine.py``),
and each process that writes to a database file runs one thread that checkpoints it every
``INTERVAL_S`` on a connection of its own, without the writers' lock (less and less often, up
to ``IDLE_INTERVAL_S``, while the log file does not change: tests open hundreds of databases).
``PASSIVE`` never waits for a reader or a writer: it copies what no reader still needs, so a
reader that starts after a complete checkpoint reads the database file alone and the next writer
starts the log over.
``journal_size_limit`` (``engine.py``, on the writers that start the log over) then truncates the
file a burst left behind.

Under steady reads and writes that moment rarely comes: a reader that began before the last commit
keeps the log in use, the next writer appends, and the log grew to 1.7 GB in a benchmark run (at
up to 85 MB/s), every commit writing to new parts of the file. So once the log holds more than
``RESTART_FRAMES`` pages, the checkpointer takes the writers' file lock itself (the writers of
every process queue behind it as behind any writer), copies the little that ``PASSIVE`` left and
waits for the readers that still use the log (``RESTART``, at most ``RESTART_WAIT_MS``): the
next writer starts the log over. Each start-over held the writers for 0.1-90 ms, so it is rare:
at 1,500 purchases/s the log grows by 20-30 MB a second, and with 256 MB as the limit the
checkout's p99 was 67-94 ms in seven runs, with no limit 38-117 ms in three.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from sqlalchemy import Engine

INTERVAL_S = 0.1
IDLE_INTERVAL_S = 2.0  # the longest pause, reached while the log does not change
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes of WAL file kept when the log starts over
RESTART_FRAMES = 262_144  # pages of log (1 GB at 4 KB) past which the log is started over
RESTART_WAIT_MS = 50  # the longest wait for readers still using the log (writers queue meanwhile)


def writers_lock_path(database: Path) -> Path:
    """The file every process's SQLite writers queue on (``engine._WriterQueue``)."""
    return Path(f"{database}.writers")


class WalCheckpointer:
    """One per database file per process, for as long as one of its engines lives."""

    _by_path: dict[Path, WalCheckpointer] = {}
    _lock = threading.Lock()

    def __init__(self, database: Path) -> None:
        self.database = database
        self.engines: list[weakref.ref[Engine]] = []
        self.checkpoints = 0  # completed passes (tests, diagnostics)
        self.restarts = 0  # logs started over with the writers held back
        self._thread = threading.Thread(target=self._run, name=f"wal-checkpoint:{database.name}", daemon=True)

    @classmethod
    def watch(cls, engine: Engine, database: Path) -> WalCheckpointer:
        """Checkpoint ``database`` in the background while ``engine`` (or another engine on it) lives."""
        with cls._lock:
            checkpointer = cls._by_path.get(database)
            if checkpointer is None or not checkpointer._thread.is_alive():
                checkpointer = cls._by_path[database] = cls(database)
                checkpointer.engines.append(weakref.ref(engine))
                checkpointer._thread.start()
            else:
                checkpointer.engines.append(weakref.ref(engine))
            return checkpointer

    def _alive(self) -> bool:
        with self._lock:
            self.engines = [ref for ref in self.engines if ref() is not None]
            if not self.engines and self._by_path.get(self.database) is self:
                del self._by_path[self.database]
            return bool(self.engines)

    def _log_stamp(self) -> tuple[int, int] | None:
        """The log file's size and modification time (None without one): a write changes it."""
        try:
            stat = Path(f"{self.database}-wal").stat()
        except OSError:
            return None
        return stat.st_size, stat.st_mtime_ns

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        pause, seen = INTERVAL_S, self._log_stamp()
        try:
            while self._alive():
                time.sleep(pause)
                stamp = self._log_stamp()
                if stamp is None or stamp == seen:
                    pause = min(IDLE_INTERVAL_S, pause * 2)  # nothing written since the last pass
                    continue
                pause = INTERVAL_S
                try:
                    if connection is None:
                        connection = sqlite3.connect(self.database, timeout=0, isolation_level=None)
                    _, log, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if log > RESTART_FRAMES:
                        self._start_log_over(connection)
                    self.checkpoints += 1
                    seen = self._log_stamp()
                except sqlite3.Error:  # another checkpointer at work, or the file went away: next time
                    if connection is not None:
                        connection.close()
                    connection = None
        finally:
            if connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()

    def _start_log_over(self, connection: sqlite3.Connection) -> None:
        """``RESTART`` with the writers queued behind us, so that no commit extends the log meanwhile."""
        lock = os.open(writers_lock_path(self.database), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            connection.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
            try:
                busy, _, _ = connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                self.restarts += not busy  # busy: a reader outlasted the wait; the next pass tries again
            finally:
                connection.execute("PRAGMA busy_timeout=0")
        finally:
            os.close(lock)
