"""Load compiled contract artifacts (ABI and bytecode) written by :mod:`backend.chain.build`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any


class ArtifactsMissing(RuntimeError):
    """The contracts have not been compiled yet."""


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    evm_version: str = "cancun"


@cache
def load_artifact(artifacts_dir: Path, name: str) -> Artifact:
    path = artifacts_dir / f"{name}.json"
    if not path.exists():
        raise ArtifactsMissing(f"{path} not found: run `credance build` (or `make build`)")
    data = json.loads(path.read_text())
    evm_version = str(data.get("compiler", {}).get("evmVersion", "cancun"))
    return Artifact(name, data["abi"], data["bytecode"], data["deployedBytecode"], evm_version)
