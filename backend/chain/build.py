"""Compile the Solidity contracts offline with solc-js and write the artifacts the backend loads.

py-solc-x looks for an executable named ``solc-v<version>`` in ``SOLCX_BINARY_PATH``; we link our
Node front-end (scripts/toolchain/solc.cjs) there, so no compiler is ever downloaded.

The EVM version is a setting (``CREDANCE_EVM_VERSION``; the node's newest by default, Cancun on
Anvil and Hardhat). OpenZeppelin 5.5 and later use ``mcopy`` (Cancun) in their own code, so a
build for an older EVM takes OpenZeppelin 5.4 instead, installed beside the current release
under an npm alias (``@openzeppelin/contracts-5.4``): same API for everything we import.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import solcx

from backend.chain.nodes import DEFAULT_EVM_VERSION, EVM_VERSIONS
from backend.settings import PROJECT_ROOT

SOLC_VERSION = "0.8.30"
EVM_VERSION = DEFAULT_EVM_VERSION
# The OpenZeppelin package each EVM version compiles with (under node_modules/@openzeppelin/).
OPENZEPPELIN_PACKAGE = {"cancun": "contracts", "shanghai": "contracts-5.4"}
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
FRONTEND = PROJECT_ROOT / "scripts" / "toolchain" / "solc.cjs"
TOOLCHAIN_DIR = PROJECT_ROOT / ".toolchain" / "solcx"
CONTRACT_NAMES = ("LoyaltyPoints", "ProvenanceRegistry", "ItemPassports", "CollectibleRewards")
# Their interfaces (events, errors, structs, functions): written beside them for clients and tests.
INTERFACE_NAMES = ("ILoyaltyPoints", "IProvenanceRegistry", "IItemPassports", "ICollectibleRewards")


class CompilationError(RuntimeError):
    """The compiler reported an error or a warning (warnings are errors here)."""


@dataclass(frozen=True)
class BuildResult:
    artifacts_dir: Path
    compiled: bool


def install_frontend() -> Path:
    """Link the solc-js front-end where py-solc-x and ape-solidity look for solc."""
    TOOLCHAIN_DIR.mkdir(parents=True, exist_ok=True)
    link = TOOLCHAIN_DIR / f"solc-v{SOLC_VERSION}"
    if not link.exists():
        link.symlink_to(FRONTEND)
    os.environ["SOLCX_BINARY_PATH"] = str(TOOLCHAIN_DIR)
    return link


def _sources() -> dict[str, Path]:
    # The contracts and the interfaces they import: both count in the fingerprint, so editing an
    # interface rebuilds. contracts/bench/ is the benchmark's own baseline, compiled there.
    paths = [*CONTRACTS_DIR.glob("*.sol"), *(CONTRACTS_DIR / "interfaces").glob("*.sol")]
    return {path.relative_to(PROJECT_ROOT).as_posix(): path for path in sorted(paths)}


def _openzeppelin(node_modules: Path, evm_version: str) -> Path:
    if evm_version not in EVM_VERSIONS:
        raise CompilationError(f"unsupported EVM version {evm_version!r}: expected one of {', '.join(EVM_VERSIONS)}")
    return node_modules / "@openzeppelin" / OPENZEPPELIN_PACKAGE[evm_version]


def _settings(node_modules: Path, evm_version: str = EVM_VERSION) -> dict[str, object]:
    # Paths relative to the project root keep the bytecode (its metadata hash) the same on
    # every machine.
    modules = os.path.relpath(node_modules, PROJECT_ROOT)
    outputs = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "devdoc", "userdoc"]
    openzeppelin = os.path.relpath(_openzeppelin(node_modules, evm_version), PROJECT_ROOT)
    # The Cancun build keeps the remapping it always had (same bytecode, same metadata hash).
    remapping = (
        f"@openzeppelin/={modules}/@openzeppelin/"
        if evm_version == EVM_VERSION
        else f"@openzeppelin/contracts/={openzeppelin}/"
    )
    return {
        "optimizer": {"enabled": True, "runs": 200},
        "evmVersion": evm_version,
        "remappings": [remapping],
        "outputSelection": {name: {"*": outputs} for name in _sources()},
    }


def _fingerprint(node_modules: Path, evm_version: str = EVM_VERSION) -> str:
    digest = hashlib.sha256(SOLC_VERSION.encode())
    digest.update(json.dumps(_settings(node_modules, evm_version), sort_keys=True).encode())
    digest.update(",".join((*CONTRACT_NAMES, *INTERFACE_NAMES)).encode())  # the artifacts written
    for name, path in _sources().items():
        digest.update(name.encode())
        digest.update(path.read_bytes())
    oz_package = _openzeppelin(node_modules, evm_version) / "package.json"
    digest.update(oz_package.read_bytes() if oz_package.exists() else b"")
    return digest.hexdigest()


def build_contracts(
    artifacts_dir: Path, node_modules: Path, force: bool = False, evm_version: str = EVM_VERSION
) -> BuildResult:
    """Compile ``contracts/*.sol`` for ``evm_version`` into ``artifacts_dir/<Name>.json`` unless
    already up to date (the fingerprint covers the EVM version and the OpenZeppelin release)."""
    fingerprint = _fingerprint(node_modules, evm_version)
    stamp = artifacts_dir / ".fingerprint"
    if not force and stamp.exists() and stamp.read_text() == fingerprint:
        return BuildResult(artifacts_dir, compiled=False)

    openzeppelin = _openzeppelin(node_modules, evm_version)
    if not openzeppelin.exists():
        raise CompilationError(f"{openzeppelin} is missing: run `npm install` (or `make deps`)")
    install_frontend()
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"urls": [name]} for name in _sources()},
        "settings": _settings(node_modules, evm_version),
    }
    output = solcx.compile_standard(
        standard_input,
        solc_version=SOLC_VERSION,
        allow_paths=[str(PROJECT_ROOT), str(node_modules)],
        base_path=str(PROJECT_ROOT),
    )
    diagnostics = [e for e in output.get("errors", []) if e.get("severity") in ("error", "warning")]
    if diagnostics:
        raise CompilationError("\n".join(e.get("formattedMessage", e["message"]) for e in diagnostics))

    artifacts_dir.mkdir(parents=True, exist_ok=True)
    for source_name, contracts in output["contracts"].items():
        for contract_name, compiled in contracts.items():
            if contract_name not in (*CONTRACT_NAMES, *INTERFACE_NAMES):
                continue
            artifact = {
                "contractName": contract_name,
                "sourceName": source_name,
                "compiler": {"version": SOLC_VERSION, "evmVersion": evm_version, "optimizerRuns": 200},
                "abi": compiled["abi"],
                "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "devdoc": compiled.get("devdoc", {}),
                "userdoc": compiled.get("userdoc", {}),
            }
            (artifacts_dir / f"{contract_name}.json").write_text(json.dumps(artifact, indent=1))
    stamp.write_text(fingerprint)
    return BuildResult(artifacts_dir, compiled=True)
