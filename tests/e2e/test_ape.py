"""The ApeWorX path: `ape compile` with the offline solc-js front-end, and `ape run deploy`
writing the same manifest as `credance deploy`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

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
    assert set(manifest["contracts"]) == {"LoyaltyPoints", "ProvenanceRegistry"}
    assert manifest["contracts"]["LoyaltyPoints"]["abi"]
