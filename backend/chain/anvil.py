"""The project's own Anvil: started from node_modules, its chain kept under CREDANCE_HOME.

Anvil's ``--state`` loads the chain at start and dumps it on exit and every
``--state-interval`` seconds, so stopping and starting keeps every block and balance
(after a SIGKILL, all but the last interval).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from backend.chain.client import ChainUnavailable, connect, wait_for_chain
from backend.home import ensure_private_directory


class AnvilError(RuntimeError):
    """Anvil could not be found, started or stopped."""


@dataclass(frozen=True)
class AnvilPaths:
    directory: Path

    @property
    def state(self) -> Path:
        return self.directory / "state.json"

    @property
    def accounts(self) -> Path:
        return self.directory / "anvil.json"

    @property
    def pid(self) -> Path:
        return self.directory / "anvil.pid"

    @property
    def log(self) -> Path:
        return self.directory / "anvil.log"

    @property
    def port(self) -> Path:
        return self.directory / "anvil.port"


def chain_paths(home: Path) -> AnvilPaths:
    return AnvilPaths(home / "chain")


def anvil_binary(node_modules: Path) -> Path:
    """The native binary shipped by @foundry-rs/anvil (not its Node wrapper, so signals reach it)."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    system = platform.system().lower()
    candidate = node_modules / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if candidate.exists():
        return candidate
    raise AnvilError(f"Anvil not found at {candidate}: run `npm ci` (or `make deps`)")


def _running_pid(paths: AnvilPaths) -> int | None:
    try:
        pid = int(paths.pid.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def start_anvil(
    home: Path,
    port: int,
    node_modules: Path,
    state_interval: int = 1,
    block_time: float | None = None,
    persist: bool = True,
    timeout: float = 20.0,
) -> int:
    """Start Anvil in the background unless it already runs; return its pid."""
    paths = chain_paths(home)
    ensure_private_directory(paths.directory)  # Anvil writes its dev accounts' private keys there
    running = _running_pid(paths)
    if running is not None:
        return running
    w3 = connect(f"http://127.0.0.1:{port}", timeout=2)
    try:
        wait_for_chain(w3, timeout=0)
    except ChainUnavailable:
        pass
    else:
        raise AnvilError(f"port {port} already serves a chain that is not ours: set CREDANCE_CHAIN_PORT")

    args = [
        str(anvil_binary(node_modules)),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--config-out",
        str(paths.accounts),
    ]
    if persist:
        args += ["--state", str(paths.state), "--state-interval", str(state_interval)]
    if block_time:
        args += ["--block-time", str(block_time)]
    with paths.log.open("ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    paths.pid.write_text(str(process.pid))
    paths.port.write_text(str(port))
    try:
        wait_for_chain(w3, timeout=timeout)
    except ChainUnavailable as exc:
        process.kill()
        paths.pid.unlink(missing_ok=True)
        raise AnvilError(f"Anvil did not start on port {port}; see {paths.log}") from exc
    return process.pid


def stop_anvil(home: Path, timeout: float = 15.0) -> bool:
    """Stop our Anvil gracefully (it dumps its state on SIGTERM). False if it was not running."""
    paths = chain_paths(home)
    pid = _running_pid(paths)
    if pid is None:
        paths.pid.unlink(missing_ok=True)
        return False
    _stop_mining(paths)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        _reap(pid)
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    paths.pid.unlink(missing_ok=True)
    return True


def _stop_mining(paths: AnvilPaths) -> None:
    """Freeze the chain before Anvil dumps it. A block mined while the dump is written can land
    in the saved accounts but not in the saved blocks (measured with Anvil 1.7: a nonce used by
    no saved transaction), which would leave state no event explains. Transactions sent after
    this wait in the mempool and are lost with it; senders rebroadcast them."""
    try:
        url = f"http://127.0.0.1:{int(paths.port.read_text())}"
        for method, params in (("evm_setAutomine", [False]), ("evm_setIntervalMining", [0])):
            httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=2)
    except (OSError, ValueError, httpx.HTTPError):
        pass  # not answering: the SIGTERM still stops it


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def dev_private_keys(home: Path) -> list[str]:
    """Private keys of Anvil's funded dev accounts, as Anvil itself wrote them (never in the repo)."""
    paths = chain_paths(home)
    if not paths.accounts.exists():
        return []
    return list(json.loads(paths.accounts.read_text()).get("private_keys", []))
