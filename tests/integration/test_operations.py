"""Operations: liveness, readiness from the indexer's lag, Prometheus metrics, and the latest /
confirmed views of the mirror."""

from __future__ import annotations

import pytest

from backend.indexer.runner import Indexer
from tests.integration.test_indexer import buy
from tests.support import Platform, rpc

pytestmark = pytest.mark.chain


def test_liveness(platform: Platform) -> None:
    assert platform.client.get("/healthz").json() == {"status": "ok"}


def test_ready_only_while_the_mirror_is_close_to_the_head(platform: Platform) -> None:
    ready = platform.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["lag"] == 0

    rpc(platform.ctx.w3, "anvil_mine", hex(platform.settings.ready_max_lag + 1))
    behind = platform.client.get("/readyz")
    assert behind.status_code == 503
    assert behind.json()["status"] == "not_ready"
    assert "blocks behind" in behind.json()["reason"]

    platform.indexer.sync()
    assert platform.client.get("/readyz").status_code == 200


def test_not_ready_before_the_first_block_is_mirrored(platform: Platform) -> None:
    from sqlalchemy import text
    from sqlmodel import Session

    with Session(platform.engine) as session:
        session.execute(text("DELETE FROM chain_cursor"))
        session.commit()
    response = platform.client.get("/readyz")
    assert response.status_code == 503
    assert "not mirrored" in response.json()["reason"]


def sample(text: str, name: str) -> float:
    """The value of the exposition line for ``name`` (with its full label set, if any)."""
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    raise AssertionError(f"{name} not in metrics")


def test_metrics_cover_indexer_outbox_transactions_and_http(platform: Platform) -> None:
    buy(platform, "M-1", amount="3")
    platform.client.get("/v1/customers/ivy/balance", headers=platform.headers())
    before_settle = platform.client.get("/metrics").text
    assert sample(before_settle, 'credance_outbox_operations{status="pending"}') == 1
    assert sample(before_settle, "credance_outbox_oldest_pending_age_seconds") > 0
    platform.settle()

    body = platform.client.get("/metrics")
    assert body.status_code == 200
    assert body.headers["content-type"].startswith("text/plain")
    text = body.text
    head = int(platform.ctx.w3.eth.block_number)
    assert sample(text, "credance_indexer_block") == head
    assert sample(text, "credance_indexer_lag_blocks") == 0
    assert sample(text, "credance_indexer_events_total") > 0
    assert sample(text, 'credance_outbox_operations{status="pending"}') == 0
    assert sample(text, 'credance_outbox_operations{status="confirmed"}') >= 1
    assert sample(text, "credance_transactions_sent_total") >= 1
    assert sample(text, "credance_database_up") == 1
    purchases = 'credance_http_request_duration_seconds_count{method="POST",route="/v1/purchases",status="2xx"}'
    assert sample(text, purchases) >= 1
    balances = 'credance_http_request_duration_seconds_count{method="GET",route="/v1/customers/{customer_id}/balance"'
    assert balances in text  # the route template, not one series per customer


def test_the_confirmed_view_leaves_out_what_is_not_deep_enough(platform: Platform) -> None:
    platform.indexer = Indexer(platform.engine, platform.ctx, confirmations=3)
    buy(platform, "C-1", amount="25")
    platform.settle()
    headers, admin = platform.headers(), platform.headers("admin")  # a till reads balances, not histories

    latest = platform.client.get("/v1/customers/ivy/balance", headers=headers).json()
    confirmed = platform.client.get("/v1/customers/ivy/balance", params={"view": "confirmed"}, headers=headers).json()
    assert (latest["view"], latest["balance"], latest["pending"]) == ("latest", 25, 0)
    assert (confirmed["view"], confirmed["balance"], confirmed["pending"]) == ("confirmed", 0, 25)
    assert confirmed["as_of_block"] == confirmed["confirmed_block"] == latest["as_of_block"] - 3
    history = platform.client.get("/v1/customers/ivy/history", params={"view": "confirmed"}, headers=admin).json()
    assert [e["status"] for e in history["entries"]] == ["unconfirmed"]
    item = platform.client.get("/01/09506000134352/21/SN0001", params={"view": "confirmed", "format": "json"}).json()
    assert item["view"] == "confirmed"

    rpc(platform.ctx.w3, "anvil_mine", "0x3")
    platform.indexer.sync()
    deep = platform.client.get("/v1/customers/ivy/balance", params={"view": "confirmed"}, headers=headers).json()
    assert (deep["balance"], deep["pending"]) == (25, 0)
    history = platform.client.get("/v1/customers/ivy/history", params={"view": "confirmed"}, headers=admin).json()
    assert [e["status"] for e in history["entries"]] == ["confirmed"]
    item = platform.client.get("/01/09506000134352/21/SN0001", params={"view": "confirmed", "format": "json"}).json()
    assert item["verdict"] == "authentic"
    assert platform.client.get("/v1/customers/ivy/balance", params={"view": "nope"}, headers=headers).status_code == 422
