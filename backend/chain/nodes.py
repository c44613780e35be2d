"""What differs between the EVM nodes we run on: Anvil (the default), Ganache and Hardhat.

Every node-specific fact lives here, so the rest of the code asks a profile instead of testing
a node's name: the newest EVM version the node runs (and so the build it needs), whether it
keeps its chain across restarts, how long its JSON-RPC calls may take, how many awards go in
one transaction, and the command that starts it from its npm package. Behaviour that differs
in the answers (revert data shapes) is decoded in ``reverts.py``, and the sender never relies on
a node refusing a mined transaction (``sender.py`` checks the chain's nonce first).

Measured on the 2-core development machine (issue 17): Ganache 7.9.2 stops at Shanghai (no
``MCOPY``/``TSTORE``), takes 3-5 s to estimate a 250-award batch and answers a re-sent mined
transaction by executing it again; Hardhat 2 (EDR) runs the Cancun build and answers like Anvil.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from web3 import Web3

NodeName = Literal["anvil", "ganache", "hardhat"]
EvmVersion = Literal["shanghai", "cancun"]
NODE_NAMES: tuple[NodeName, ...] = ("anvil", "ganache", "hardhat")
EVM_VERSIONS: tuple[EvmVersion, ...] = ("shanghai", "cancun")
DEFAULT_EVM_VERSION: EvmVersion = "cancun"

# The dev accounts: Anvil's and Hardhat's default mnemonic, given to Ganache too, so the same
# ten funded accounts (and the same platform keys) exist on every local node.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 10
DEV_CHAIN_ID = 31337


@dataclass(frozen=True)
class LaunchOptions:
    """How the project starts a local node (``credance chain up``, ``make run``, the tests)."""

    port: int
    node_modules: Path
    state_dir: Path
    persist: bool
    state_interval: int
    block_time: float | None
    accounts_file: Path


@dataclass(frozen=True)
class NodeProfile:
    name: NodeName
    client_prefix: str  # how web3_clientVersion starts
    evm_version: EvmVersion  # newest EVM the node runs: the default build for it
    persists: bool  # keeps its chain across restarts
    rpc_timeout: float  # seconds per JSON-RPC call (estimating a full batch is slow on Ganache)
    sender_batch_size: int  # awards per awardBatch transaction
    receipt_timeout: float  # seconds before the sender looks into a transaction without receipt
    command: Callable[[LaunchOptions], list[str]]
    writes_accounts: bool  # writes its dev accounts' keys itself (else we derive them)


def _anvil_command(o: LaunchOptions) -> list[str]:
    args = [str(_anvil_binary(o.node_modules)), "--host", "127.0.0.1", "--port", str(o.port)]
    args += ["--config-out", str(o.accounts_file)]
    if o.persist:
        args += ["--state", str(o.state_dir / "state.json"), "--state-interval", str(o.state_interval)]
    if o.block_time:
        args += ["--block-time", str(o.block_time)]
    return args


def _ganache_command(o: LaunchOptions) -> list[str]:
    cli = o.node_modules / "ganache" / "dist" / "node" / "cli.js"
    args = ["node", str(cli), "--server.host", "127.0.0.1", "--server.port", str(o.port)]
    args += ["--chain.chainId", str(DEV_CHAIN_ID), "--chain.hardfork", "shanghai"]
    args += ["--wallet.mnemonic", DEV_MNEMONIC, "--wallet.totalAccounts", str(DEV_ACCOUNTS)]
    args += ["--wallet.defaultBalance", "10000", "--miner.blockGasLimit", "30000000", "--logging.quiet"]
    # Instamine "eager" (the default): a send answers once its transaction is mined. "strict"
    # answers at once but left transactions pending until the next one came (seen in the crash
    # test). Eager's catch, a send with a future nonce that never answers, is what the sender's
    # nonce check before any rebroadcast and the JSON-RPC timeout are for.
    args += ["--miner.instamine", "eager"]
    if o.block_time:
        args += ["--miner.blockTime", str(o.block_time)]
    if o.persist:  # Ganache writes its chain to a LevelDB database as it goes
        args += ["--database.dbPath", str(o.state_dir / "ganache-db")]
    return args


def _hardhat_command(o: LaunchOptions) -> list[str]:
    cli = o.node_modules / "hardhat" / "internal" / "cli" / "cli.js"
    config = Path(__file__).resolve().parents[2] / "scripts" / "toolchain" / "hardhat.config.cjs"
    return ["node", str(cli), "--config", str(config), "node", "--hostname", "127.0.0.1", "--port", str(o.port)]


def _anvil_binary(node_modules: Path) -> Path:
    from backend.chain.anvil import anvil_binary

    return anvil_binary(node_modules)


PROFILES: dict[NodeName, NodeProfile] = {
    "anvil": NodeProfile("anvil", "anvil/", "cancun", True, 10.0, 256, 30.0, _anvil_command, True),
    "ganache": NodeProfile("ganache", "Ganache/", "shanghai", True, 30.0, 64, 60.0, _ganache_command, False),
    "hardhat": NodeProfile("hardhat", "HardhatNetwork/", "cancun", False, 10.0, 256, 30.0, _hardhat_command, False),
}

# Creation code that runs one opcode of each EVM version, for eth_call: PUSH0 (Shanghai), then
# MCOPY and TSTORE (Cancun). A node that lacks one answers "invalid opcode".
EVM_PROBES: dict[EvmVersion, tuple[str, ...]] = {
    "shanghai": ("0x5f00",),
    "cancun": ("0x5f5f5f5e00", "0x60015f5d00"),
}


def profile(name: str) -> NodeProfile:
    try:
        return PROFILES[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"unknown node {name!r}: expected one of {', '.join(NODE_NAMES)}") from None


def profile_of_client(client_version: str) -> NodeProfile | None:
    """The profile of the node answering ``web3_clientVersion`` with this, if we know it."""
    for candidate in PROFILES.values():
        if client_version.lower().startswith(candidate.client_prefix.lower()):
            return candidate
    return None


class UnsupportedEvm(RuntimeError):
    """The node cannot run the EVM version the contracts were built for."""


def runs_evm(w3: Web3, evm_version: str) -> bool:
    """Whether the node runs code built for ``evm_version`` (it executes that version's opcodes)."""
    from web3.exceptions import Web3Exception

    for code in EVM_PROBES.get(evm_version, ()):  # type: ignore[call-overload]
        try:
            w3.eth.call({"data": code})
        except (Web3Exception, ValueError):
            return False
    return True


def require_evm(w3: Web3, evm_version: str) -> None:
    """Refuse, before any deployment transaction, a node that would answer ``invalid opcode``."""
    if runs_evm(w3, evm_version):
        return
    client = _client_version(w3)
    runs = [version for version in EVM_VERSIONS if runs_evm(w3, version)]
    hint = (
        f"build for EVM {runs[-1]} (CREDANCE_EVM_VERSION={runs[-1]}"
        + (f", or CREDANCE_NODE={known.name}" if (known := profile_of_client(client)) else "")
        + ") and deploy again"
        if runs
        else "this node runs none of the EVM versions we build for (" + ", ".join(EVM_VERSIONS) + ")"
    )
    raise UnsupportedEvm(f"the node ({client}) does not run EVM {evm_version}, the contracts' build: {hint}")


def _client_version(w3: Web3) -> str:
    try:
        return str(w3.client_version)
    except Exception:  # any answer will do for a message
        return "unknown client"
