"""Cached verification answers on a real chain: a new block that changes the item (its registration
mirrored, an event anchored, a recall) changes the answer at once, and never shows it older than
the block it claims; a block that changes nothing about the item reuses what was built."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import Response

from backend.api.answers import VerificationAnswers
from backend.provenance.epcis.anchoring import Anchorer
from tests.provenance.support import FRESH, Api, at, commission, sgtin
from tests.support import Platform

pytestmark = pytest.mark.chain


def resolve(platform: Platform, serial: str, etag: str | None = None) -> Response:
    headers = {"If-None-Match": etag} if etag else {}
    return platform.client.get(f"/01/{FRESH}/21/{serial}", params={"format": "json", "scan": "false"}, headers=headers)


def answer_of(platform: Platform, serial: str, etag: str | None = None) -> tuple[dict[str, Any], str]:
    response = resolve(platform, serial, etag)
    assert response.status_code == 200, response.text
    body = dict(response.json())
    # Nothing shown comes from above the block the answer claims.
    claimed = body["as_of_block"]
    shown = [step["block_number"] for step in body["trail"] if step.get("block_number")]
    proof = body.get("proof") or {}
    shown += [proof.get("block_number") or 0, *(a["block_number"] for a in proof.get("events", []))]
    shown += [(proof.get("recall") or {}).get("block_number") or 0]
    assert all(block <= claimed for block in shown), (claimed, shown)
    return body, response.headers["etag"]


def test_a_block_that_changes_the_item_changes_its_cached_answer(platform: Platform) -> None:
    api = Api(platform.client, platform.engine, {"admin": platform.keys["admin"], "demo-brand": platform.keys["brand"]})
    api.product("demo-brand", FRESH, "Tea caddy")
    api.items("demo-brand", FRESH, ["SN0001", "SN0002"])
    answers: VerificationAnswers = platform.client.app.state.answers  # type: ignore[attr-defined]

    pending, etag = answer_of(platform, "SN0001")
    assert pending["verdict"] == "unknown"
    assert pending["proof"] is None
    platform.settle()  # the registration is mined and mirrored
    registered, etag = answer_of(platform, "SN0001", etag)
    assert registered["verdict"] == "authentic"
    assert registered["as_of_block"] >= registered["proof"]["block_number"] > pending["as_of_block"]

    # A block that changes nothing an answer shows: the same static part, a newer block claimed.
    builds = answers.builds
    platform.ctx.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    platform.indexer.sync()
    later, later_etag = answer_of(platform, "SN0001", etag)
    assert later["as_of_block"] > registered["as_of_block"]
    blocks = ("as_of_block", "confirmed_block")
    assert {k: v for k, v in later.items() if k not in blocks} == {
        k: v for k, v in registered.items() if k not in blocks
    }
    assert answers.builds == builds
    assert resolve(platform, "SN0001", later_etag).status_code == 304

    # An event captured, then anchored in a later block.
    api.accept("demo-brand", commission([sgtin(FRESH, "SN0001")], at(0)))
    captured, etag = answer_of(platform, "SN0001", later_etag)
    assert [(s["event"], s["block_number"]) for s in captured["trail"] if s["event"] == "commissioning"] == [
        ("commissioning", None)
    ]
    Anchorer(platform.engine, batch_size=256, max_delay_ms=0).step(force=True)
    platform.settle()
    anchored, etag = answer_of(platform, "SN0001", etag)
    step = next(s for s in anchored["trail"] if s["event"] == "commissioning")
    assert step["block_number"]
    assert len(anchored["proof"]["events"]) == 1

    # A recall, mined and mirrored: the client's cached answer is not confirmed.
    recall = api.client.post(
        "/v1/recalls",
        json={"gtin": FRESH, "serials": ["SN0001"], "reason": "Cracked"},
        headers=api.headers("demo-brand"),
    )
    assert recall.status_code == 201, recall.text
    platform.settle()
    recalled, _ = answer_of(platform, "SN0001", etag)
    assert recalled["verdict"] == "recalled"
    assert recalled["proof"]["recall"]["block_number"] > anchored["as_of_block"]
    # The other item is not recalled; its answer, rebuilt under the new version, says so.
    assert answer_of(platform, "SN0002")[0]["verdict"] == "authentic"
