"""One indexer leader among several processes.

PostgreSQL: a session-level advisory lock held on a dedicated connection; when the leader dies,
its connection closes, the lock is released and a standby takes over. SQLite: an exclusive
``flock`` on a file next to the database, released by the kernel when the process dies.

Leadership only saves work: correctness does not depend on it. Every indexer write checks, in
its own transaction, that the cursor is still where the writer read it (see ``runner``), so two
writers that both believe they lead can never apply a range twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import zlib
from typing import IO

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from backend.db.engine import is_sqlite


def lock_key(name: str) -> int:
    """A stable 63-bit key for pg_advisory_lock from a name."""
    return zlib.crc32(f"credance:{name}".encode())


class Leadership:
    def __init__(self, engine: Engine, name: str = "indexer") -> None:
        self.engine = engine
        self.name = name
        self._connection: Connection | None = None
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        if self._file is not None:
            return True
        if self._connection is None:
            return False
        try:  # the lock lives as long as the connection: check it is still there
            self._connection.execute(text("SELECT 1"))
        except Exception:
            self._drop_connection()
            return False
        return True

    def acquire(self) -> bool:
        """Try to become the leader; never blocks."""
        if self.held:
            return True
        if is_sqlite(str(self.engine.url)):
            return self._acquire_file()
        connection = self.engine.connect()
        try:
            got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(self.name)}).scalar())
            connection.commit()
        except Exception:
            connection.close()
            raise
        if got:
            self._connection = connection
        else:
            connection.close()
        return got

    def _acquire_file(self) -> bool:
        database = make_url(str(self.engine.url)).database
        if not database or database == ":memory:":
            self._file = open(os.devnull)  # noqa: SIM115 (one process owns an in-memory database)
            return True
        handle = open(f"{database}.{self.name}.lock", "a")  # noqa: SIM115 (held while leading)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.name)})
                self._connection.commit()
            self._drop_connection()

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
