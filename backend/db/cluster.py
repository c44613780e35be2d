"""A throwaway local PostgreSQL server from the installed binaries (Debian's
``/usr/lib/postgresql/<version>/bin``): the tests, the benchmark and ``make run-postgres`` start
one in a directory of their own, on a port of their own, reachable over loopback TCP only.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user (or
``nobody``) through ``runuser``; its directory is handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

SEARCH = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/usr/pgsql-*/bin")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine, or the server would not start."""


def find_bin_dir() -> Path | None:
    """The newest PostgreSQL ``bin`` directory with initdb and pg_ctl (``CREDANCE_PG_BIN`` first)."""
    if configured := os.environ.get("CREDANCE_PG_BIN"):
        return Path(configured)
    if initdb := shutil.which("initdb"):
        return Path(initdb).resolve().parent
    candidates = [Path(p) for pattern in SEARCH for p in glob.glob(pattern)]
    usable = [c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()]
    return max(usable, key=_version_key) if usable else None


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.parts if part.isdigit()) or (0,)


def _run_as_user() -> str | None:
    """Under root, the unprivileged account that runs the server."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PostgresUnavailable("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL")


@dataclass
class LocalPostgres:
    """One cluster in ``directory`` listening on 127.0.0.1:``port`` (trust auth, user postgres)."""

    directory: Path
    port: int
    bin_dir: Path | None = None
    fast_unsafe: bool = True  # no fsync: test and benchmark data are throwaway

    def __post_init__(self) -> None:
        self.bin_dir = self.bin_dir or find_bin_dir()
        if self.bin_dir is None:
            raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.user = _run_as_user()

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def _cmd(self, tool: str, *args: str) -> list[str]:
        assert self.bin_dir is not None
        command = [str(self.bin_dir / tool), *args]
        return ["runuser", "-u", self.user, "--", *command] if self.user else command

    def _give_to_user(self, path: Path) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._give_to_user(self.directory)
        probe = ["runuser", "-u", self.user or "", "--", "test", "-w", str(self.directory)]
        if self.user and subprocess.run(probe).returncode:
            raise PostgresUnavailable(
                f"{self.directory} is not reachable by user {self.user}: put it under a directory every user "
                "can traverse (e.g. /tmp)"
            )
        done = subprocess.run(
            self._cmd("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {done.stdout}{done.stderr}")

    def start(self, timeout: float = 30.0) -> None:
        if not self.initialised():
            self.init()
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.directory}",
            "-c max_connections=200",
        ]
        if self.fast_unsafe:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        done = subprocess.run(
            self._cmd(
                "pg_ctl",
                "-D",
                str(self.data),
                "-o",
                " ".join(options),
                "-l",
                str(self.directory / "log"),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            log = (self.directory / "log").read_text() if (self.directory / "log").exists() else ""
            raise PostgresUnavailable(f"PostgreSQL did not start: {done.stdout}{done.stderr}{log[-2000:]}")
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def running(self) -> bool:
        if not self.initialised():
            return False
        return subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "status"), capture_output=True).returncode == 0

    def stop(self) -> None:
        if self.running():
            subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"), capture_output=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create (or re-create) a database; return its SQLAlchemy URL."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            suffix = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{suffix}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
