"""Issue 11 follow-up: whoever scans one item must not read the serials of its case-mates and
batch-mates. A batch of 50 sequential (guessable) serials is commissioned in one event; three are
packed in a case (SSCC), three in a case that is itself a serialized item, one is named by another
event's extension, one is recalled and later packed with a fresh item. Scanning each kind of item,
no other serial appears anywhere in the JSON or the HTML answer (the raw bytes are searched for
every sibling serial), nor anything a guess of them could be confirmed against (the CBV hash, the
unsalted binding of it, the salt). The verifiers (`credance verify` and the Node verifier written
from docs/verification.md alone) still pass for each genuine item, and fail for tampered public
forms. Real Anvil, real API."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from sqlmodel import Session, select

from backend.chain.manifest import manifest_path
from backend.db.models import EpcisEventRecord
from backend.provenance.epcis.anchoring import Anchorer
from backend.provenance.epcis.hashing import hash_digest
from backend.provenance.proofcheck import verify_answer
from backend.provenance.verifier.item import item_of
from backend.provenance.verifier.pinning import ChainPin, pin_chain
from backend.settings import PROJECT_ROOT
from tests.provenance.support import Api, at, commission, document, event, pack, receive, sgtin, ship, unpack
from tests.support import Platform

pytestmark = [pytest.mark.chain, pytest.mark.sqlite_only]

GOODS, CASES = "09506000134383", "09506000134390"  # a product sold in batches, and its serialized case
SERIALS = [f"LOT7-{n:04d}" for n in range(1, 51)]  # sequential: exactly what a cloner would guess
CASE_SERIAL = "CASE-0001"
SSCC, LATER = "urn:epc:id:sscc:9506000.0000000081", "urn:epc:id:sscc:9506000.0000000082"
SCRIPT = PROJECT_ROOT / "tests" / "e2e" / "verifier_js" / "verify.mjs"
Answer = dict[str, Any]


def item(serial: str) -> str:
    return sgtin(GOODS, serial)


@pytest.fixture
def history(platform: Platform) -> Platform:
    api = Api(platform.client, platform.engine, {"admin": platform.keys["admin"], "demo-brand": platform.keys["brand"]})
    api.product("demo-brand", GOODS, "Batch goods")
    api.product("demo-brand", CASES, "Case of three")
    api.items("demo-brand", GOODS, SERIALS)
    api.items("demo-brand", CASES, [CASE_SERIAL])
    case_item = sgtin(CASES, CASE_SERIAL)
    compared = event(
        "ObjectEvent",
        at(2),
        bizStep="inspecting",
        epcList=[item(SERIALS[1])],
        **{"ex:comparedWith": f"urn:epc:id:sgtin:9506000.013438.{SERIALS[2]}"},
    )
    captured = api.capture(
        "demo-brand",
        document(
            commission([item(s) for s in SERIALS], at(0)),
            commission([case_item], at(0)),
            pack(SSCC, [item(s) for s in SERIALS[:3]], at(1)),
            pack(case_item, [item(s) for s in SERIALS[3:6]], at(1)),
            compared,
            ship([SSCC, case_item], at(3)),
            receive([SSCC, case_item], at(4)),
            prefixes={"ex": "https://example.com/voc/"},
        ),
    )
    assert captured.status_code == 201, captured.text
    recall = api.client.post(
        "/v1/recalls",
        json={"gtin": GOODS, "serials": [SERIALS[0]], "reason": "Cracked"},
        headers=api.headers("demo-brand"),
    )
    assert recall.status_code == 201, recall.text
    api.accept(
        "demo-brand",
        unpack(SSCC, [item(SERIALS[0])], at(5)),  # after the recall
        pack(LATER, [item(SERIALS[0]), item(SERIALS[6])], at(6)),
    )
    Anchorer(platform.engine, batch_size=256, max_delay_ms=0).step(force=True)
    platform.settle()
    return platform


@pytest.fixture
def pin(history: Platform) -> ChainPin:
    return pin_chain(history.ctx.w3, manifest=manifest_path(history.settings.deployments_dir, history.ctx.chain_id))


def answer(platform: Platform, gtin: str, serial: str, fmt: str = "json") -> bytes:
    response = platform.client.get(f"/01/{gtin}/21/{serial}", params={"format": fmt, "scan": "false"})
    assert response.status_code == 200, response.text
    return response.content


def scopes(platform: Platform) -> Any:
    return lambda recall_id: platform.client.get(f"/v1/recalls/{recall_id}/scope").json()


def failed(platform: Platform, pin: ChainPin, gtin: str, serial: str, body: Answer) -> list[str]:
    report = verify_answer(pin, item_of(gtin, serial), body, fetch_scope=scopes(platform))
    return [c.what for c in report.failures]


def node(platform: Platform, gtin: str, serial: str, saved: Path) -> tuple[int, list[str]]:
    """The Node verifier on a saved answer: its exit code and the checks it failed."""
    link = f"http://resolver.example/01/{gtin}/21/{serial}"
    run = subprocess.run(
        [
            shutil.which("node") or "node",
            str(SCRIPT),
            "--link",
            link,
            "--rpc",
            platform.settings.resolved_rpc_url,
            "--registry",
            platform.ctx.registry.address,
            "--answer",
            str(saved),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout, run.stderr
    return run.returncode, [c["check"] for c in json.loads(run.stdout)["checks"] if not c["ok"]]


SCANNED = {  # what each scanned item shows of the others
    "in a case of 3 (SSCC), recalled": SERIALS[1],
    "in a case that is a serialized item": SERIALS[4],
    "packed, after the recall, with a recalled item": SERIALS[6],
    "only commissioned with the batch": SERIALS[30],
}


def test_no_other_serial_reaches_whoever_scans_one_item(history: Platform, pin: ChainPin) -> None:
    everyone = [*SERIALS, CASE_SERIAL]
    for why, serial in SCANNED.items():
        raw = {fmt: answer(history, GOODS, serial, fmt) for fmt in ("json", "html")}
        leaked = {fmt: [s for s in everyone if s != serial and s.encode() in body] for fmt, body in raw.items()}
        assert leaked == {"json": [], "html": []}, why
        assert serial.encode() in raw["json"]  # the item asked is shown, in clear, to whoever asked
        body = json.loads(raw["json"])
        assert failed(history, pin, GOODS, serial, body) == [], why
        steps = [s for s in body["trail"] if "body" in s]
        assert steps, why
        # Nothing a guess of the siblings' serials could be checked against: not the CBV hash of
        # any event shown (its full pre-hash string is everything but the serials), not the
        # unsalted binding keccak256(cbvHash ‖ publicHash), not the salt.
        with Session(history.engine) as session:
            records = session.exec(select(EpcisEventRecord)).all()
        for record in records:
            cbv = hash_digest(record.event_hash)
            unsalted = keccak(cbv + bytes.fromhex(record.public_hash[2:]))
            for secret in (cbv.hex(), unsalted.hex(), record.event_salt[2:], record.event_id):
                assert secret.encode() not in raw["json"] + raw["html"], (why, record.event_type)
    recalled = json.loads(answer(history, GOODS, SERIALS[1]))
    assert recalled["verdict"] == "recalled"
    later = json.loads(answer(history, GOODS, SERIALS[6]))
    assert later["verdict"] == "recalled"
    assert "packed (in https://id.gs1.org/00/" in later["reason"]
    assert f"an item of GTIN {GOODS}" in later["reason"]
    in_case = json.loads(answer(history, GOODS, SERIALS[4]))
    containers = {s["container"] for s in in_case["trail"] if s.get("container")}
    assert [c.startswith("item:0x") for c in containers] == [True]  # the case is shown as its token
    assert {s["via"] for s in in_case["trail"] if s.get("container")} == {"in another serialized item"}


def test_the_verifiers_pass_the_genuine_items_and_fail_tampered_public_forms(
    history: Platform, pin: ChainPin, tmp_path: Path
) -> None:
    genuine = json.loads(answer(history, GOODS, SERIALS[1]))
    packing = next(s for s in genuine["trail"] if s.get("event") == "packing")
    sibling_token = next(e for e in packing["body"]["childEPCs"] if e.startswith("item:0x"))
    other_token = "item:0x" + keccak(b"not in this case").hex()

    def swapped(a: Answer) -> None:  # a sibling swapped for another item in what was hashed
        step = next(s for s in a["trail"] if s.get("event") == "packing")
        step["public_form"] = step["public_form"].replace(sibling_token, other_token)

    def swapped_and_rehashed(a: Answer) -> None:  # … and in the body, its hash recomputed
        step = next(s for s in a["trail"] if s.get("event") == "packing")
        step["body"]["childEPCs"] = [other_token if e == sibling_token else e for e in step["body"]["childEPCs"]]
        step["public_form"] = step["public_form"].replace(sibling_token, other_token)
        step["public_hash"] = "0x" + hashlib.sha256(step["public_form"].encode()).hexdigest()

    def sibling_in_clear(a: Answer) -> None:  # a server that leaks a case-mate in the body
        step = next(s for s in a["trail"] if s.get("event") == "packing")
        step["body"]["childEPCs"] = [item(SERIALS[0]) if e == sibling_token else e for e in step["body"]["childEPCs"]]

    python_expects = {
        swapped: "event 2 (packing): public form is its body's",
        swapped_and_rehashed: "event 2 (packing): anchored",
        sibling_in_clear: "event 2 (packing): no other item in clear",
    }
    node_expects = {
        swapped: "event 2 (packing): hash of its public form",
        swapped_and_rehashed: "event 2 (packing): anchored",
    }
    saved = tmp_path / "genuine.json"
    saved.write_text(json.dumps(genuine))
    for serial in (SERIALS[1], SERIALS[4]):
        (tmp_path / f"{serial}.json").write_text(answer(history, GOODS, serial).decode())
        assert node(history, GOODS, serial, tmp_path / f"{serial}.json") == (0, []), serial
    missed = {}
    for tamper, expected in python_expects.items():
        forged = copy.deepcopy(genuine)
        tamper(forged)
        if expected not in failed(history, pin, GOODS, SERIALS[1], forged):
            missed[tamper.__name__] = failed(history, pin, GOODS, SERIALS[1], forged)
        if tamper in node_expects:
            path = tmp_path / f"{tamper.__name__}.json"
            path.write_text(json.dumps(forged))
            code, failures = node(history, GOODS, SERIALS[1], path)
            if code != 1 or node_expects[tamper] not in failures:
                missed[f"node {tamper.__name__}"] = failures
    assert missed == {}
