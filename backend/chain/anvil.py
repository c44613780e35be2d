"""The project's own local node (Anvil by default; Ganache or Hardhat with ``CREDANCE_NODE``):
started from node_modules, its chain kept under CREDANCE_HOME where the node can keep it.

Anvil's ``--state`` loads the chain at start and dumps it on exit and every
``--state-interval`` seconds, so stopping and starting keeps every block and balance
(after a SIGKILL, all but the last interval). Ganache writes its chain to a LevelDB database as
it goes; Hardhat keeps nothing (``nodes.py`` says which node does what).
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
from backend.chain.nodes import DEV_ACCOUNTS, DEV_MNEMONIC, LaunchOptions, NodeName, profile
from backend.home import ensure_private_directory


class AnvilError(RuntimeError):
    """Anvil could not be found, started or stopped."""


@dataclass(frozen=True)
class AnvilPaths:
    """Files of the local node. The dev accounts are kept in Anvil's ``--config-out`` format
    whichever node runs; the pid, log and port files carry the node's name (``anvil.pid``…), and
    ``node`` says which node the directory's chain belongs to."""

    directory: Path
    node: str = "anvil"

    @property
    def state(self) -> Path:
        return self.directory / "state.json"

    @property
    def accounts(self) -> Path:
        return self.directory / "anvil.json"

    @property
    def pid(self) -> Path:
        return self.directory / f"{self.node}.pid"

    @property
    def log(self) -> Path:
        return self.directory / f"{self.node}.log"

    @property
    def port(self) -> Path:
        return self.directory / f"{self.node}.port"

    @property
    def kind(self) -> Path:
        return self.directory / "node"


def chain_paths(home: Path, node: str | None = None) -> AnvilPaths:
    """The paths of ``node``'s files, or of the node that last ran in this home."""
    directory = home / "chain"
    if node is None:
        try:
            node = (directory / "node").read_text().strip() or "anvil"
        except FileNotFoundError:
            node = "anvil"
    return AnvilPaths(directory, node)


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
    node: NodeName = "anvil",
) -> int:
    """Start the local node (Anvil unless ``node`` names another) in the background unless it
    already runs; return its pid."""
    paths = chain_paths(home, node)
    ensure_private_directory(paths.directory)  # the dev accounts' private keys are written there
    running = _running_pid(paths)
    if running is not None:
        return running
    other = chain_paths(home)
    if other.node != node and _running_pid(other) is not None:
        raise AnvilError(f"{other.node} already runs in {home}: stop it first (credance chain down)")
    w3 = connect(f"http://127.0.0.1:{port}", timeout=2)
    try:
        wait_for_chain(w3, timeout=0)
    except ChainUnavailable:
        pass
    else:
        raise AnvilError(f"port {port} already serves a chain that is not ours: set CREDANCE_CHAIN_PORT")

    node_profile = profile(node)
    options = LaunchOptions(port, node_modules, paths.directory, persist, state_interval, block_time, paths.accounts)
    args = node_profile.command(options)
    if not node_profile.writes_accounts:
        _write_dev_accounts(paths.accounts)
    # Node programs (Ganache, Hardhat) run under `node`; signals reach them directly as well.
    environment = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"}
    with paths.log.open("ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=environment)
    paths.pid.write_text(str(process.pid))
    paths.port.write_text(str(port))
    paths.kind.write_text(node)
    try:
        wait_for_chain(w3, timeout=timeout)
    except ChainUnavailable as exc:
        process.kill()
        paths.pid.unlink(missing_ok=True)
        raise AnvilError(f"{node} did not start on port {port}; see {paths.log}") from exc
    return process.pid


def _write_dev_accounts(path: Path) -> None:
    """The dev accounts' keys, derived from the dev mnemonic the node was given, in Anvil's
    ``--config-out`` format (the node does not write them; Anvil does)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    keys = [
        "0x" + bytes(Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key).hex()
        for i in range(DEV_ACCOUNTS)
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"private_keys": keys}, handle)


def stop_anvil(home: Path, timeout: float = 15.0) -> bool:
    """Stop our local node gracefully (Anvil dumps its state on SIGTERM). False if it was not running."""
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
