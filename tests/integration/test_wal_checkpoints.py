"""SQLite's WAL is checkpointed aside, never inside a writer's commit (backend/db/checkpoint.py)."""

from __future__ import annotations

import sqlite3
import struct
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from backend.db.checkpoint import WalCheckpointer
from backend.db.engine import make_engine, session_scope

pytestmark = pytest.mark.sqlite_only


def _until(condition: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def _wal_state(database: Path) -> tuple[int, int]:
    """(frames in the log, frames copied into the database), read from the WAL index without
    checkpointing anything (https://www.sqlite.org/walformat.html: ``mxFrame`` at byte 16 of the
    header, ``nBackfill`` at byte 96, after the header's two copies)."""
    index = Path(f"{database}-shm").read_bytes()[:100]
    return struct.unpack_from("=I", index, 16)[0], struct.unpack_from("=I", index, 96)[0]


def test_commits_never_checkpoint_and_the_background_checkpointer_copies_the_log(tmp_path: Path) -> None:
    database = tmp_path / "wal.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as db:
        assert db.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0  # not inside a commit
    with session_scope(engine) as session:
        session.execute(text("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT)"))
    # A reader holds a snapshot: what it may still read cannot be copied yet.
    reader = sqlite3.connect(database, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM rows").fetchone()
    for _ in range(20):  # about 2,000 pages of log: past SQLite's own 1,000-page checkpoint
        with session_scope(engine) as session:
            session.execute(text("INSERT INTO rows (body) VALUES (:body)"), [{"body": "x" * 3000} for _ in range(100)])
    checkpointer = WalCheckpointer.watch(engine, database)
    log, copied = _wal_state(database)
    assert log > 1000  # past SQLite's own threshold, yet no commit checkpointed…
    assert copied == 0  # …and the checkpointer may not copy what the reader may still read
    reader.execute("COMMIT")
    reader.close()
    # The checkpointer alone copies everything once no reader needs the log…
    assert _until(lambda: _wal_state(database)[1] == _wal_state(database)[0])
    assert checkpointer.checkpoints > 0
    with session_scope(engine) as session:  # …so the next writer starts the log over
        session.execute(text("INSERT INTO rows (body) VALUES ('after')"))
    assert _wal_state(database)[0] < 10
    with session_scope(engine) as session:
        assert session.execute(text("SELECT count(*) FROM rows")).scalar() == 2001


def test_one_checkpointer_a_database_file_per_process(tmp_path: Path) -> None:
    database = tmp_path / "one.db"
    first = WalCheckpointer.watch(make_engine(f"sqlite:///{database}"), database)
    assert WalCheckpointer.watch(make_engine(f"sqlite:///{database}"), database) is first


def test_a_log_kept_in_use_by_readers_is_started_over_with_the_writers_held_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers that keep overlapping the commits keep ``PASSIVE`` from ever letting the log start
    over: past ``RESTART_FRAMES`` the checkpointer queues the writers and restarts it."""
    monkeypatch.setattr("backend.db.checkpoint.RESTART_FRAMES", 500)
    database = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{database}")
    with session_scope(engine) as session:
        session.execute(text("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT)"))
    checkpointer = WalCheckpointer.watch(engine, database)
    reading = threading.Event()

    def read_all_the_time() -> None:
        reader = sqlite3.connect(database, isolation_level=None)
        while not reading.is_set():
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM rows").fetchone()
            time.sleep(0.003)
            reader.execute("COMMIT")
        reader.close()

    readers = [threading.Thread(target=read_all_the_time) for _ in range(2)]
    for thread in readers:
        thread.start()
    longest = 0
    try:
        deadline = time.monotonic() + 30
        while checkpointer.restarts == 0 and time.monotonic() < deadline:
            with session_scope(engine) as session:
                session.execute(
                    text("INSERT INTO rows (body) VALUES (:body)"), [{"body": "x" * 3000} for _ in range(20)]
                )
            longest = max(longest, _wal_state(database)[0])
    finally:
        reading.set()
        for thread in readers:
            thread.join()
    assert checkpointer.restarts > 0
    assert longest > 500  # the log did outgrow the limit before it was started over…
    with session_scope(engine) as session:  # …and the next writer starts it over
        session.execute(text("INSERT INTO rows (body) VALUES ('after')"))
    assert _wal_state(database)[0] < 50
