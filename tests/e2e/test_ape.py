"""The ApeWorX path: `ape compile` with the offline solc-js front-end, and `ape run deploy`
writing the same manifest as `credance deploy`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backend.chain.build import TOOLCHAIN_DIR, install_frontend
from backend.settings import PROJECT_ROOT

pytestmark = [pytest.mark.chain, pytest.mark.slow]
APE = str(PROJECT_ROOT / ".venv" / "bin" / "ape")


def ape_env(tmp_path: Path) -> dict[str, str]:
    install_frontend()
    return {**os.environ, "SOLCX_BINARY_PATH": str(TOOLCHAIN_DIR), "CREDANCE_DEPLOYMENTS_DIR": str(tmp_path)}


def test_ape_compile(tmp_path: Path) -> None:
    result = subprocess.run(
        [APE, "compile", "--force"],
        cwd=PROJECT_ROOT,
        env=ape_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((PROJECT_ROOT / ".build" / "__local__.json").read_text())
    assert {"LoyaltyPoints", "ProvenanceRegistry"} <= set(manifest["contractTypes"])


def test_ape_run_deploy_writes_the_manifest(tmp_path: Path, chain_port: int) -> None:
    network = f"ethereum:local:http://127.0.0.1:{chain_port}"
    result = subprocess.run(
        [APE, "run", "deploy", "--network", network],
        cwd=PROJECT_ROOT,
        env=ape_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "31337.json").read_text())
    assert set(manifest["contracts"]) == {"LoyaltyPoints", "ProvenanceRegistry", "ItemPassports", "CollectibleRewards"}
    assert manifest["contracts"]["LoyaltyPoints"]["abi"]


@pytest.mark.parametrize("node", ["ganache", "hardhat"])
def test_ape_run_deploy_on_the_other_nodes(tmp_path: Path, node: str, request: pytest.FixtureRequest) -> None:
    """The same deploy on Ganache (with its Shanghai build) and on Hardhat: a new user following
    the README's "Any EVM chain" with Ape reaches a manifest on either."""
    other = request.getfixturevalue(f"{node}_settings")
    network = f"ethereum:local:http://127.0.0.1:{other.chain_port}"
    result = subprocess.run(
        [APE, "run", "deploy", "--network", network],
        cwd=PROJECT_ROOT,
        env={**ape_env(tmp_path), "CREDANCE_NODE": node},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "31337.json").read_text())
    assert set(manifest["contracts"]) == {"LoyaltyPoints", "ProvenanceRegistry", "ItemPassports", "CollectibleRewards"}


def test_ape_run_deploy_names_the_evm_version_a_node_lacks(tmp_path: Path, ganache_settings: Any) -> None:
    """The Cancun build sent to Ganache (which stops at Shanghai) is refused before any contract
    is deployed, with the EVM version named, not a raw `invalid opcode`."""
    network = f"ethereum:local:http://127.0.0.1:{ganache_settings.chain_port}"
    result = subprocess.run(
        [APE, "run", "deploy", "--network", network],
        cwd=PROJECT_ROOT,
        env={**ape_env(tmp_path), "CREDANCE_NODE": "anvil", "CREDANCE_EVM_VERSION": "cancun"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "cancun" in result.stdout + result.stderr
    assert "invalid opcode" not in (result.stdout + result.stderr).lower()
    assert not (tmp_path / "31337.json").exists()
