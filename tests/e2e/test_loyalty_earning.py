"""Earning rules through the API on a real chain: publication by hash, the per-purchase explanation,
paying with points, refunds and debt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from backend.db.models import MirrorLedgerEntry
from tests.e2e.loyalty_helpers import (
    add_reward,
    assert_books_match_chain,
    balance,
    buy,
    line,
    on_chain,
    order,
    publish,
)
from tests.support import Platform

pytestmark = pytest.mark.chain

NOW = datetime.now(UTC)
RULES = {
    "points_per_unit": "2",
    "excluded_skus": ["GIFTCARD"],
    "sku_multipliers": {"BEANS-RARE": "3"},
    "category_multipliers": {"coffee": "1.5"},
    "campaigns": [
        {
            "id": "winter-tea",
            "name": "Double points on tea",
            "starts_at": (NOW - timedelta(days=1)).isoformat(),
            "ends_at": (NOW + timedelta(days=1)).isoformat(),
            "multiplier": "2",
            "categories": ["tea"],
        }
    ],
}


def test_rules_are_published_by_hash_and_every_purchase_explains_itself(platform: Platform) -> None:
    published = publish(platform, RULES)
    assert published["version"] == 2
    assert published["created"] is True

    current = platform.client.get("/v1/rule-sets/current", headers=platform.headers()).json()
    assert current["publication"]["status"] == "confirmed"
    assert current["publication"]["matches"] is True
    onchain = platform.ctx.points.functions.ruleSetHash(2).call()
    assert "0x" + onchain.hex() == current["content_hash"] == published["content_hash"]
    again = platform.client.post("/v1/rule-sets", json=RULES, headers=platform.headers("admin"))
    assert (again.status_code, again.json()["created"], again.json()["version"]) == (200, False, 2)

    accepted = buy(
        platform,
        order(
            "R-1",
            "alice",
            line("BEANS-RARE", 1, "10.00", "coffee"),  # SKU multiplier wins over the category: 10 * 2 * 3 = 60
            line("BEANS", 2, "5.00", "coffee"),  # category: 10 * 2 * 1.5 = 30
            line("GREEN", 1, "4.25", "tea"),  # campaign: 4.25 * 2 * 2 = 17
            line("GIFTCARD", 1, "50.00"),  # excluded
            line("MUG", 1, "0.30"),  # 0.6: the order total is rounded down once: 107.6 -> 107
        ),
    )
    assert (accepted["points_awarded"], accepted["rule_version"]) == (107, 2)
    platform.settle()

    detail = platform.client.get("/v1/purchases/R-1", headers=platform.headers()).json()
    assert detail["status"] == "confirmed"
    why = detail["explanation"]
    assert (why["rule_version"], why["rule_hash"], why["rounding"]) == (2, current["content_hash"], "floor_per_order")
    assert (why["exact_points"], why["rounded_points"], why["points"]) == ("107.6", 107, 107)
    shown = [
        (li["sku"], li["multiplier"], li["multiplier_source"], li["campaign"], li["excluded"]) for li in why["lines"]
    ]
    assert shown == [
        ("BEANS-RARE", "3", "sku", None, False),
        ("BEANS", "1.5", "category", None, False),
        ("GREEN", "1", None, "winter-tea", False),
        ("GIFTCARD", "1", None, None, True),
        ("MUG", "1", None, None, False),
    ]
    with Session(platform.engine) as session:
        award = session.exec(select(MirrorLedgerEntry).where(MirrorLedgerEntry.kind == "award")).one()
    assert award.rule_version == 2  # the chain records which published rules computed the award
    assert_books_match_chain(platform, "alice")


def test_paying_with_points_burns_them_and_that_share_earns_nothing(platform: Platform) -> None:
    buy(platform, order("P-1", "bob", line("A", 1, "1000.00")))
    platform.settle()
    assert balance(platform, "bob")["balance"] == 1000

    # At the till, with the one-time code bob shows: 500 points = 5.00.
    paid = buy(
        platform,
        order("P-2", "bob", line("A", 1, "20.00"), paid_with_points=500, customer_code=platform.till_code("bob")),
    )
    assert (paid["points_awarded"], paid["paid_with_points"]) == (15, 500)
    assert balance(platform, "bob")["available"] == 500  # the burn is in flight
    platform.settle()
    view = balance(platform, "bob")
    assert (view["balance"], view["available"]) == (515, 515)
    assert on_chain(platform, view["address"]) == (515, 0)

    too_much = platform.client.post(
        "/v1/purchases",
        json=order("P-3", "bob", line("A", 1, "20.00"), paid_with_points=1000, customer_code=platform.till_code("bob")),
        headers=platform.headers(),
    )
    assert too_much.status_code == 422
    assert too_much.json()["error"]["field"] == "paid_with_points"
    assert_books_match_chain(platform, "bob")


@pytest.mark.nodes("ganache", "hardhat")
def test_refunds_reverse_proportionally_once_and_never_more_than_awarded(platform: Platform) -> None:
    publish(platform, {"sku_multipliers": {"DOUBLE": "2"}})
    buy(platform, order("F-1", "carol", line("DOUBLE", 2, "10.00"), line("PLAIN", 3, "10.00")))  # 40 + 30
    platform.settle()

    url, headers = "/v1/purchases/F-1/refunds", platform.headers()
    first = platform.client.post(
        url, json={"refund_id": "r1", "lines": [{"sku": "DOUBLE", "quantity": 1}]}, headers=headers
    )
    assert first.status_code == 200, first.text
    assert first.json()["points_reversed"] == 20  # half the double line: 20 of 70
    replay = platform.client.post(
        url, json={"refund_id": "r1", "lines": [{"sku": "DOUBLE", "quantity": 1}]}, headers=headers
    )
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    conflict = platform.client.post(url, json={"refund_id": "r1", "amount": "5.00"}, headers=headers)
    assert (conflict.status_code, conflict.json()["error"]["field"]) == (409, "refund_id")

    too_many = platform.client.post(
        url, json={"refund_id": "r2", "lines": [{"sku": "PLAIN", "quantity": 4}]}, headers=headers
    )
    assert (too_many.status_code, too_many.json()["error"]["field"]) == (422, "lines[0].quantity")
    by_amount = platform.client.post(url, json={"refund_id": "r3", "amount": "15.00"}, headers=headers).json()
    assert by_amount["points_reversed"] == 21  # share 20/70 + 15/50 = 41/70: 41 in all, 21 now
    rest = platform.client.post(url, json={"refund_id": "r4", "amount": "35.00"}, headers=headers)
    assert (rest.status_code, rest.json()["error"]["field"]) == (422, "amount")  # only 25.00 are left
    last = platform.client.post(url, json={"refund_id": "r5", "amount": "25.00"}, headers=headers).json()
    assert last["points_reversed_total"] == 70
    platform.settle()

    view = balance(platform, "carol")
    assert (view["balance"], view["debt"]) == (0, 0)
    detail = platform.client.get("/v1/purchases/F-1", headers=headers).json()
    assert detail["points_reversed"] == 70
    assert [(r["refund_id"], r["status"]) for r in detail["refunds"]] == [
        ("r1", "confirmed"),
        ("r3", "confirmed"),
        ("r5", "confirmed"),
    ]
    unknown = platform.client.post(
        "/v1/purchases/NOPE/refunds", json={"refund_id": "x", "amount": "1"}, headers=headers
    )
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (404, "order_id")


def test_refund_of_spent_points_becomes_debt_that_later_awards_repay(platform: Platform) -> None:
    buy(platform, order("D-1", "dave", line("A", 1, "100.00")))
    platform.settle()
    add_reward(platform, "mug", 80)
    redeemed = platform.client.post(
        "/v1/customers/dave/redemptions",
        json={"redemption_id": "m1", "reward_id": "mug"},
        headers=platform.as_customer("dave"),
    )
    assert redeemed.status_code == 200, redeemed.text
    platform.settle()

    refund = platform.client.post(
        "/v1/purchases/D-1/refunds", json={"refund_id": "all", "amount": "100"}, headers=platform.headers()
    )
    assert refund.json()["points_reversed"] == 100
    platform.settle()
    view = balance(platform, "dave")
    assert (view["balance"], view["debt"]) == (0, 80)  # 20 burned, 80 owed
    assert_books_match_chain(platform, "dave")

    buy(platform, order("D-2", "dave", line("A", 1, "50.00")))
    platform.settle()
    assert (balance(platform, "dave")["balance"], balance(platform, "dave")["debt"]) == (0, 30)
    buy(platform, order("D-3", "dave", line("A", 1, "50.00")))
    platform.settle()
    view = balance(platform, "dave")
    assert (view["balance"], view["debt"]) == (20, 0)
    assert_books_match_chain(platform, "dave")


def test_campaigns_target_segments_set_by_an_admin(platform: Platform) -> None:
    start, end = (NOW - timedelta(hours=1)).isoformat(), (NOW + timedelta(hours=1)).isoformat()
    publish(
        platform,
        {
            "campaigns": [
                {"id": "welcome-back", "starts_at": start, "ends_at": end, "bonus_points": 100, "segments": ["lapsed"]},
            ]
        },
    )
    platform.client.post("/v1/customers", json={"customer_id": "uma"}, headers=platform.headers())
    segments = platform.client.put(
        "/v1/customers/uma/segments", json={"segments": ["lapsed"]}, headers=platform.headers("admin")
    )
    assert segments.json()["segments"] == ["lapsed"]
    assert buy(platform, order("C-1", "uma", line("A", 1, "10.00")))["points_awarded"] == 110
    assert buy(platform, order("C-2", "vera", line("A", 1, "10.00")))["points_awarded"] == 10
    why = platform.client.get("/v1/purchases/C-1", headers=platform.headers()).json()["explanation"]
    assert why["bonuses"] == [{"source": "campaign", "points": 100, "detail": "welcome-back"}]
    versions = platform.client.get("/v1/rule-sets", headers=platform.headers()).json()
    assert [v["version"] for v in versions] == [2, 1]
    assert platform.client.get("/v1/rule-sets/9", headers=platform.headers()).status_code == 404
    assert platform.client.get("/v1/rule-sets/1").status_code == 401
