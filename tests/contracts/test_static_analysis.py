"""Slither and slither-check-erc over contracts/, offline, as CI enforces them: no High or Medium
finding and no ERC deviation left without a reason in contracts/SECURITY.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from backend.settings import PROJECT_ROOT
from tests.support import load_script

SCRIPT = PROJECT_ROOT / "scripts" / "security" / "analyse_contracts.py"


def _gate() -> ModuleType:
    return load_script(SCRIPT, "analyse_contracts")


@pytest.mark.slow
def test_no_unexplained_finding(tmp_path: Path) -> None:
    report_path = tmp_path / "slither.json"
    # A subprocess: Slither configures global logging and caches compilations.
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", str(report_path)], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(report_path.read_text())
    assert report["ok"]
    assert not report["unexplained"]
    assert report["findings"], "Slither reported nothing at all: is the analysis really running?"
    assert set(report["erc"]) == {"LoyaltyPoints:ERC20", "LoyaltyPoints:ERC2612"}
    print(run.stdout)


def test_accepted_entries_are_read_from_their_own_table() -> None:
    markdown = """
## Accepted Slither findings

| detector | where | why |
|---|---|---|
| `incorrect-equality` | `A.f` | because |

## Accepted ERC deviations

| check | contract | why |
|---|---|---|
| `lack_of_erc20_race_condition_protection` | `A` | reasons |
"""
    gate = _gate()
    assert gate.accepted_entries(markdown, "Accepted Slither findings") == {("incorrect-equality", "A.f"): "because"}
    assert gate.accepted_entries(markdown, "Accepted ERC deviations") == {
        ("lack_of_erc20_race_condition_protection", "A"): "reasons"
    }


def test_findings_are_named_by_contract_and_function() -> None:
    gate = _gate()
    result = {
        "elements": [
            {"type": "function", "name": "f", "type_specific_fields": {"parent": {"type": "contract", "name": "A"}}},
            {"type": "node", "name": "x == 0"},
        ]
    }
    assert gate.finding_target(result) == "A.f"
    assert gate.finding_target({"elements": [{"type": "contract", "name": "B"}]}) == "B"


def test_security_document_accepts_only_real_findings() -> None:
    """Every accepted row names a detector Slither knows, so a typo cannot silently accept."""
    from slither.detectors import all_detectors

    known = {
        getattr(all_detectors, n).ARGUMENT for n in dir(all_detectors) if hasattr(getattr(all_detectors, n), "ARGUMENT")
    }
    gate = _gate()
    accepted = gate.accepted_entries(gate.SECURITY_MD.read_text(), "Accepted Slither findings")
    assert accepted
    assert {check for check, _ in accepted} <= known
