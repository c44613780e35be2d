"""A verifier in another language, written from docs/verification.md alone
(tests/e2e/verifier_js/verify.mjs: Node and ethers, nothing of this project), agrees with the
chain on a genuine item served by a real API over HTTP, and refuses tampered answers: another
serial, a changed event body, another contract or chain, missing proofs, a dropped recall."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backend.api.app import create_app
from backend.provenance.epcis.anchoring import Anchorer
from backend.settings import PROJECT_ROOT
from tests.provenance.support import serving
from tests.support import Platform

pytestmark = [pytest.mark.chain, pytest.mark.sqlite_only]

SCRIPT = Path(__file__).parent / "verifier_js" / "verify.mjs"
NODE = shutil.which("node") or "node"
DEMO, OTHER = "09506000134352", "09506000134369"


def run(link: str, rpc: str, registry: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NODE, str(SCRIPT), "--link", link, "--rpc", rpc, "--registry", registry, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
    )


def failed_checks(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The names of the failed checks of a ``--json`` run."""
    return [c["check"] for c in json.loads(result.stdout)["checks"] if not c["ok"]]


def test_a_node_verifier_that_knows_only_the_docs(platform: Platform, tmp_path: Path) -> None:
    recall = platform.client.post(
        "/v1/recalls", json={"gtin": OTHER, "reason": "Withdrawn"}, headers=platform.headers("brand")
    )
    assert recall.status_code == 201, recall.text
    Anchorer(platform.engine, batch_size=256, max_delay_ms=0).step(force=True)
    platform.settle()
    rpc, registry = platform.settings.resolved_rpc_url, platform.ctx.registry.address

    with serving(create_app(platform.settings, platform.engine)) as site:
        link = f"{site}/01/{DEMO}/21/SN0001"
        genuine = run(link, rpc, registry, "--chain-id", str(platform.ctx.chain_id))
        recalled = run(f"{site}/01/{OTHER}/21/SN0001", rpc, registry, "--json")
    assert genuine.returncode == 0, genuine.stdout + genuine.stderr
    assert genuine.stdout.rstrip().endswith("VERIFIED")
    assert "ok     event 3 (shipping): hash of its public form" in genuine.stdout
    assert "ok     event 3 (shipping): the item was packed into its container" in genuine.stdout
    assert recalled.returncode == 0, recalled.stdout + recalled.stderr
    assert json.loads(recalled.stdout)["ok"] is True

    answer: dict[str, Any] = platform.client.get(
        f"/01/{DEMO}/21/SN0001", params={"format": "json", "scan": "false"}
    ).json()
    recalled_answer = platform.client.get(f"/01/{OTHER}/21/SN0001", params={"format": "json", "scan": "false"}).json()

    def saved(name: str, edit: Any, base: dict[str, Any] = answer) -> str:
        forged = copy.deepcopy(base)
        edit(forged)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(forged))
        return str(path)

    def shipping(a: dict[str, Any]) -> dict[str, Any]:
        return next(s for s in a["trail"] if s["event"] == "shipping")

    def drop_recall(a: dict[str, Any]) -> None:
        a.update(verdict="authentic", reasons=[])
        a["proof"]["recall"] = None
        a["trail"] = [s for s in a["trail"] if s["event"] != "recalled"]

    forgeries = {
        "serial": (link, saved("serial", lambda a: a.update(serial="SN0002")), "the answer is about the item asked"),
        "other serial asked": (
            link.replace("SN0001", "SN0002"),
            saved("same", lambda a: None),
            "commitment of the serial asked",
        ),
        "body": (
            link,
            saved("body", lambda a: shipping(a)["body"].update(bizStep="receiving")),
            "event 3 (shipping): shown as its body and hash say",
        ),
        "public form": (
            link,
            saved(
                "public_form",
                lambda a: shipping(a).update(
                    public_form=shipping(a)["public_form"].replace("in_transit", "in_progress")
                ),
            ),
            "event 3 (shipping): hash of its public form",
        ),
        "contract": (
            link,
            saved("contract", lambda a: a["proof"].update(contract="0x" + "42" * 20)),
            "the answer's contract is the pinned registry",
        ),
        "chain": (
            link,
            saved("chain", lambda a: a["proof"].update(chain_id=1)),
            "the answer's chain id is the pinned chain",
        ),
        "event proofs": (
            link,
            saved("anchors", lambda a: a["proof"].update(events=[])),
            "event 1 (commissioning): anchored",
        ),
        "item proof": (link, saved("item", lambda a: a["proof"].update(merkle_proof=[])), "item Merkle proof (local)"),
        "no proof": (link, saved("none", lambda a: a.update(proof=None)), "proof"),
        "recall": (
            f"{site}/01/{OTHER}/21/SN0001",
            saved("recall", drop_recall, recalled_answer),
            "whole-GTIN recall asked of the chain",
        ),
    }
    missed = {}
    for name, (asked, path, expected) in forgeries.items():
        result = run(asked, rpc, registry, "--answer", path, "--json")
        if result.returncode != 1 or expected not in failed_checks(result):
            missed[name] = (result.returncode, failed_checks(result), result.stderr[-300:])
    assert missed == {}
    # The chain is pinned by the person verifying: another chain id, or no contract there, is refused.
    wrong_chain = run(link, rpc, registry, "--chain-id", "1", "--answer", str(tmp_path / "same.json"))
    assert wrong_chain.returncode == 2
    assert "not the pinned chain 1" in wrong_chain.stderr
    nothing_there = run(link, rpc, "0x" + "42" * 20, "--answer", str(tmp_path / "same.json"))
    assert nothing_there.returncode == 2
    assert "no contract" in nothing_there.stderr
