"""File modes of the state directory (``CREDANCE_HOME``): it holds the SQLite database (personal
data, encrypted organisation keys), the chain's dev keys and the logs, so only its owner may
read it: the directory is 0700, every file 0600, and the processes run with umask 077 so that
whatever they create later (SQLite's WAL and SHM files, logs, Anvil's state) is private too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

PRIVATE_UMASK = 0o077
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal", ".writers")


def restrict_umask() -> int:
    """Make every file this process (and its children) creates private; return the old umask."""
    return os.umask(PRIVATE_UMASK)


def ensure_private_directory(path: Path) -> Path:
    """Create ``path`` (and its missing parents) 0700, or narrow an existing one to 0700."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    _narrow(path, DIRECTORY_MODE)
    return path


def secure_home(home: Path, traversable: bool = False) -> Path:
    """The home directory 0700 and what is already in it owner-only (a home made before this
    release, or by a process with a broader umask, is tightened in place).

    ``traversable``: 0711 instead, for a local PostgreSQL server that runs as another user (under
    root) with its data directory in the home: that user may pass through, never list or read."""
    ensure_private_directory(home)
    if traversable:
        os.chmod(home, 0o711)  # noqa: S103  (search only: no listing, no reading)
    for root, directories, files in os.walk(home):
        for name in directories:
            _narrow(Path(root) / name, DIRECTORY_MODE)
        for name in files:
            _narrow(Path(root) / name, FILE_MODE)
    return home


def secure_sqlite_files(database: Path) -> None:
    """Create the database file 0600 before SQLite does (SQLite gives its WAL and SHM files the
    database's mode), and narrow the files of an existing database."""
    if not database.parent.exists():
        ensure_private_directory(database.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for suffix in SQLITE_SUFFIXES:
        _narrow(Path(f"{database}{suffix}"), FILE_MODE)


def create_once(path: Path, make: Callable[[], str]) -> str:
    """The content of a private file created once with ``make()``: written to a temporary file and
    linked into place, so that processes starting together agree on one value and none ever reads
    a half-written file."""
    if not path.exists():
        ensure_private_directory(path.parent)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(make())
            with contextlib.suppress(FileExistsError):  # another process was first: keep its value
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return path.read_text().strip()


def _narrow(path: Path, mode: int) -> None:
    """Take group and other permissions away (never adds any) from a file or directory of ours;
    another user's (the PostgreSQL server's data directory, run as ``postgres`` under root) is
    left to its owner."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    current = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid() or not current & ~mode & 0o777:
        return
    with contextlib.suppress(PermissionError):
        os.chmod(path, current & mode)
