"""A whole Credance deployment in a temporary home, as separate processes that can be killed:
Anvil (persisting its chain every second), the API, the sender and the indexer.

Processes are started the way `credance run` starts them (``python -m backend.cli.main …``), and
killed with SIGKILL: no handler runs, nothing is flushed. Anvil killed that way loses the blocks
mined since its last state dump, which is exactly a chain that forgets its recent past.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from backend.chain.anvil import chain_paths, start_anvil
from backend.chain.bootstrap import ensure_deployment
from backend.chain.manifest import Manifest
from backend.cli.seed import DemoKeys, seed_demo
from backend.db.engine import make_engine
from backend.db.migrate import upgrade
from backend.settings import PROJECT_ROOT, Settings
from tests.support import free_port

SERVICES = {"api": ["serve"], "sender": ["sender"], "indexer": ["indexer"], "anchorer": ["anchorer"]}
CAPTURE_GTIN = "09506000134369"  # the second demo product: the crash load commissions its serials
CAPTURE_SERIALS = 4000


@dataclass
class Service:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0
    starts: int = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backend.cli.main", *self.args],
                env=self.env,
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.process is not None and self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    root: Path
    state_interval: int = 1
    api_port: int = field(default_factory=free_port)
    chain_port: int = field(default_factory=free_port)
    services: dict[str, Service] = field(default_factory=dict)
    chain_crashes: int = 0
    keys: DemoKeys | None = None
    manifest: Manifest | None = None

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def settings(self) -> Settings:
        return Settings(
            home=self.home,
            port=self.api_port,
            chain_port=self.chain_port,
            deployments_dir=self.root / "deployments",
            database_url=f"sqlite:///{self.home / 'credance.db'}",
            chain_state_interval=self.state_interval,
            chain_id=31337,
            sender_max_delay_ms=50,
            sender_poll_ms=20,
            indexer_poll_ms=50,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "CREDANCE_HOME": str(s.home),
            "CREDANCE_PORT": str(s.port),
            "CREDANCE_CHAIN_PORT": str(s.chain_port),
            "CREDANCE_DEPLOYMENTS_DIR": str(s.deployments_dir),
            "CREDANCE_DATABASE_URL": s.resolved_database_url,
            "CREDANCE_CHAIN_ID": "31337",
            "CREDANCE_CHAIN_STATE_INTERVAL": str(self.state_interval),
            "CREDANCE_SENDER_MAX_DELAY_MS": "50",
            "CREDANCE_SENDER_POLL_MS": "20",
            "CREDANCE_INDEXER_POLL_MS": "50",
            "CREDANCE_LOG_FORMAT": "json",
        }

    # --- chain ----------------------------------------------------------------------------

    def start_chain(self) -> None:
        start_anvil(self.home, self.chain_port, self.settings.node_modules, self.state_interval)

    def crash_chain(self) -> None:
        """SIGKILL Anvil: the blocks since its last state dump are lost."""
        paths = chain_paths(self.home)
        pid = int(paths.pid.read_text())
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)  # it is our child: reap it, or it would look alive
        paths.pid.unlink(missing_ok=True)
        self.chain_crashes += 1

    # --- platform -------------------------------------------------------------------------

    def bootstrap(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.start_chain()
        self.manifest, _ = ensure_deployment(self.settings)
        upgrade(self.settings.resolved_database_url)
        self.keys = seed_demo(make_engine(self.settings.resolved_database_url), self.settings, 31337)
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        env = self.env()
        for name, args in SERVICES.items():
            self.services[name] = Service(name, args, env, logs / f"{name}.log")
            self.services[name].start()
        self.wait_healthy()
        self.register_items()

    def register_items(self) -> None:
        """Serials for the load to commission (EPCIS captures need registered items)."""
        assert self.keys is not None
        serials = [f"CR{n:06d}" for n in range(CAPTURE_SERIALS)]
        response = httpx.post(
            f"{self.url}/v1/items",
            json={"gtin": CAPTURE_GTIN, "serials": serials, "lot": "CRASH"},
            headers={"Authorization": f"Bearer {self.keys.brand}"},
            timeout=120,
        )
        assert response.status_code == 201, response.text

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"the API did not come up; see {self.services['api'].log_path}")

    def restart_dead(self) -> None:
        for service in self.services.values():
            if not service.alive():
                service.start()

    def shutdown(self) -> None:
        for service in self.services.values():
            service.stop()
        paths = chain_paths(self.home)
        if paths.pid.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                pid = int(paths.pid.read_text())
                os.kill(pid, signal.SIGTERM)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            paths.pid.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for service in self.services.values():
            text = service.log_path.read_text(errors="replace").splitlines() if service.log_path.exists() else []
            parts.append(f"--- {service.name} (last {lines} lines) ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)
